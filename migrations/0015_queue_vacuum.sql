-- The jobs table is a queue: each row is inserted, leased (updated) and
-- deleted within moments, so its pages fill with dead versions faster than
-- the default autovacuum (at 20% of the table dead) clears them, and every
-- claim walks through them (make bench PROFILE=1, sends with the pipeline
-- running: claims took 1.45 ms each, mostly visibility checks of dead rows
-- in a table holding fewer than a hundred live ones). Vacuumed after every
-- thousand dead rows, without the cost delay (the table is small), and
-- analysed as often, so the planner knows what it is scanning.
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
                      autovacuum_vacuum_cost_delay = 0,
                      autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 1000);
