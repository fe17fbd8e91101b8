"""The enrolment path: referral, screening, consent, baseline, randomization, cohort."""
