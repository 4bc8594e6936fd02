-- collab: who may read and write artifact objects in Supabase Storage's `artifacts`
-- bucket, as RLS policies on storage.objects. Applied only where Supabase Storage's
-- schema exists (the bucket itself is created by 20261122000100_collab_tables.sql).
--
-- Object names are `<executor_id>/<job_id>/<name>` (collab_sdk.client.artifacts). Storage
-- runs each request as the caller (`authenticated` with the user's JWT claims):
--   read (download, sign, list): any member of the job's executor;
--   write (upload, upsert, delete): a worker or admin member of the job's executor
--                                while the job is running (the leaseholder's membership).
-- The job is found by the first uuid-shaped segment of the name and must belong to the
-- executor the name starts with, so executor ids that contain '/' work too. The service
-- role bypasses RLS; anon gets no policy. Inline expressions only (no helper
-- functions); collab's tables are read as the caller, under their own RLS.

do $$
begin
  if to_regclass('storage.objects') is null then
    return;
  end if;

  create policy collab_artifacts_read on storage.objects
    for select to authenticated
    using (
      bucket_id = 'artifacts'
      and exists (
        select 1 from collab.jobs j
          join collab.executor_members m on m.executor_id = j.executor_id
         where j.id = (substring(storage.objects.name from
                         '(?:^|/)([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/'))::uuid
           and starts_with(storage.objects.name, j.executor_id || '/' || j.id::text || '/')
           and m.user_id = (select auth.uid())));

  -- Upload is INSERT (with `x-upsert: true`, INSERT ... ON CONFLICT DO UPDATE); one
  -- FOR ALL policy gives the leaseholder insert, update and delete under its running
  -- job's prefix (and nothing to read that membership does not already give).
  create policy collab_artifacts_write on storage.objects
    for all to authenticated
    using (
      bucket_id = 'artifacts'
      and exists (
        select 1 from collab.jobs j
          join collab.executor_members m on m.executor_id = j.executor_id
         where j.id = (substring(storage.objects.name from
                         '(?:^|/)([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/'))::uuid
           and starts_with(storage.objects.name, j.executor_id || '/' || j.id::text || '/')
           and j.status = 'running'
           and m.user_id = (select auth.uid()) and m.role in ('worker', 'admin')));
end
$$;
