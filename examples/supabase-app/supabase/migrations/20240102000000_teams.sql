create table public.teams (
  id bigint generated always as identity primary key,
  name text not null,
  created_at timestamptz not null default now()
);

create table public.team_members (
  team_id bigint not null references public.teams (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role text not null default 'member',
  primary key (team_id, user_id)
);

create index team_members_user_id_idx on public.team_members (user_id);

alter table public.team_members enable row level security;

create policy team_members_read on public.team_members
  for select to authenticated
  using (exists (
    select 1 from public.team_members me
    where me.team_id = team_members.team_id and me.user_id = (select auth.uid())
  ));
