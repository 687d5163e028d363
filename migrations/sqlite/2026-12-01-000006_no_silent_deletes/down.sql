-- Not reversible in place: restore from a backup taken before the upgrade.
SELECT 1;
