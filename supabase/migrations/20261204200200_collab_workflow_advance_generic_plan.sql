-- collab workflows: _advance_run's enqueue is planned once, not at every step's finish.
--
-- pg_stat_statements with track_planning (bench/workflow_profile.py) showed the enqueue
-- statement of _advance_run (the ready steps' jobs inserted and their step rows moved, one
-- statement of four CTEs) planned again at every call: PL/pgSQL's plan cache kept
-- choosing a custom plan for it, and planning it cost more than executing it (about
-- 130 us against 100 us a diamond step, one connection). Its generic plan is the same
-- index probes by the run's key the custom plans use (the run's steps by primary key,
-- the update joined on it), so the function now runs with plan_cache_mode =
-- force_generic_plan: each backend plans the statement once. (The setting holds for the
-- statements the function runs, the queue's insert trigger included; theirs were
-- generic plans already.)

alter function collab._advance_run(uuid) set plan_cache_mode = force_generic_plan;
