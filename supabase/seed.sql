-- Local development seed (run by `supabase db reset`): a demo executor with one job.
select * from collab.assign_job_v1(type => 'browser.screenshot', executor_id => 'default',
                                   payload => '{"url": "https://supabase.com"}'::jsonb,
                                   idempotency_key => 'seed-1');
