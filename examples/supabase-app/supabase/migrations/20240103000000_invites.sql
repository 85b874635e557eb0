create extension if not exists pg_trgm;

create or replace function public.accept_invite(invite_code text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.team_members (team_id, user_id)
  select team_id, (select auth.uid()) from public.invites where code = invite_code;
end;
$$;

create table public.invites (
  id bigint generated always as identity primary key,
  team_id bigint not null references public.teams (id) on delete cascade,
  code text not null unique default encode(gen_random_bytes(12), 'hex')
);

create index invites_team_id_idx on public.invites (team_id);
