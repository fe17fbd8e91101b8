"""The data manager's audit page: reads the audit trail and names what each row is about
(studies, participants), so it sits above the apps whose rows it shows."""
