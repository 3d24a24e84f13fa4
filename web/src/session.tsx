import { createContext, useContext, useEffect, useMemo, type ReactNode } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, get, onUnauthorized, post } from './api';
import type { Me, Role, Tenant } from './types';

export interface Session {
  me: Me;
  tenant: Tenant;
  /** Role-aware screens: viewer is read-only, employee may create and edit, admin may also delete. */
  can: { edit: boolean; delete: boolean; admin: boolean };
  logout(): void;
}

const SessionContext = createContext<Session | null>(null);

const RANK: Record<Role, number> = { viewer: 0, employee: 1, admin: 2 };

export function useSessionQuery() {
  return useQuery({
    queryKey: ['session'],
    queryFn: async () => {
      try {
        const [me, tenant] = await Promise.all([get<Me>('/auth/me'), get<Tenant>('/tenant')]);
        return { me, tenant };
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return null;
        throw err;
      }
    },
    staleTime: Infinity,
    retry: false,
  });
}

export function useLogin() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { email: string; password: string }) => post('/auth/login', body),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['session'] }),
  });
}

export function SessionProvider({ me, tenant, children }: { me: Me; tenant: Tenant; children: ReactNode }) {
  const qc = useQueryClient();
  useEffect(
    () =>
      onUnauthorized(() => {
        qc.setQueryData(['session'], null);
      }),
    [qc],
  );
  const value = useMemo<Session>(() => {
    const rank = RANK[me.role];
    return {
      me,
      tenant,
      can: { edit: rank >= RANK.employee, delete: rank >= RANK.admin, admin: rank >= RANK.admin },
      logout: () => {
        void post('/auth/logout').finally(() => {
          // Keep the session query itself (its observer drives the switch to the login page); drop the rest.
          qc.setQueryData(['session'], null);
          qc.removeQueries({ predicate: (q) => q.queryKey[0] !== 'session' });
        });
      },
    };
  }, [me, tenant, qc]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}
