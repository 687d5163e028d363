DROP INDEX audit_log_timeline_idx;
DROP INDEX deals_timeline_idx;
DROP INDEX actions_timeline_idx;
ALTER TABLE accounts DROP COLUMN call_results;
DROP TABLE interaction_mentions;
DROP TABLE interactions;
