-- Profiles of signed-in users, readable by everyone.
create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  username text not null unique,
  avatar_url text,
  created_at timestamptz not null default now()
);

alter table public.profiles enable row level security;

create policy profiles_public_read on public.profiles
  for select using (true);

create policy profiles_own_update on public.profiles
  for update to authenticated
  using (id = auth.uid());
