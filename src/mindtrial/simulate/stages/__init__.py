"""The stages of one simulated trial, each a pure function of frozen inputs and one stream.

``mindtrial.simulate.engine.simulate_trial`` composes them in this order (module: output):

1. ``streams``: one random ``Generator`` per component, spawned from ``SeedSequence(seed)``;
2. ``design``: the fixed inputs (protocol, scenario, n, arms, final week, instruments);
3. ``sample``: sex and the baseline covariates;
4. ``funnel``: the screening funnel and the day each participant is randomized;
5. ``allocation``: participant ids, arms, cohorts and therapy groups;
6. ``follow_up``: each participant's last week in the study (retention);
7. ``events``: return to use, leaving treatment (which ends follow-up) and adherence;
8. ``sessions``: group-session attendance;
9. ``collection``: which weekly surveys are completed;
10. ``scores``: item answers of the instruments with a score trajectory;
11. ``substances``: use of each substance per testing period;
12. ``misuse``: latent opioid misuse and its COMM answers;
13. ``self_report``: the weekly past-7-day substance-use answers;
14. ``other_answers``: every other instrument (no arm difference, home practice, days of use);
15. ``toxicology``, ``adverse_events``, ``diaries`` (EMA prompts, medications): those records;
16. ``assembly``: the participants and screening tables and the
    :class:`~mindtrial.dataset.StudyDataset`.

``responses`` (item answers in blocks, and the long table they make) and ``draws``
(categorical and covariate draws) serve several stages.

A stage never changes its inputs; a later stage that revises an earlier output (leaving
treatment shortens follow-up, the medication list fixes the baseline MME) returns a new
value. Each stage draws only from the streams it is handed, in a fixed order, so a seed
gives the same trial draw for draw.
"""
