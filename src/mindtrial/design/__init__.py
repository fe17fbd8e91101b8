"""Design primitives (pure, seeded): eligibility, allocation lists, session/test/assessment schedules."""
