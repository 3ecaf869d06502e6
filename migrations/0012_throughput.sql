-- What the message path's profile asked for (issue 13; make bench PROFILE=1).

-- A claim walks one kind's jobs in id order and stops after its batch:
-- before, each claim read the whole table (a sorted scan), so under a
-- backlog of moderations every claim of another kind read them all
-- (13 ms each at 60k queued, measured).
CREATE INDEX jobs_claim ON jobs (kind, id);

-- A message's row is updated twice after its insert (decided, released)
-- and its conversation's row on every send and every release. With room
-- left on each page the new version stays on the page (a HOT update: no
-- new entries in the table's indexes, and the old one is pruned in place).
-- New pages only; existing ones keep what they have until rewritten.
ALTER TABLE conversations SET (fillfactor = 50);
ALTER TABLE messages SET (fillfactor = 80);

