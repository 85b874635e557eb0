CREATE OR REPLACE FUNCTION is_account_admin(p_account_id bigint, p_user_id bigint)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
AS $$
  SELECT EXISTS (
    SELECT 1 FROM project_members m JOIN projects p ON p.id = m.project_id
    WHERE p.account_id = p_account_id AND m.user_id = p_user_id AND m.role = 'admin'
  )
$$;

REVOKE EXECUTE ON FUNCTION is_account_admin(bigint, bigint) FROM PUBLIC;
