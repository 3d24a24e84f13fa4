export type Role = 'viewer' | 'employee' | 'admin';

export interface Me {
  tenant_id: string;
  role: Role;
  actor: string;
  user: { id: string; email: string; name: string | null; role: Role } | null;
}

export interface Tenant {
  id: string;
  name: string;
  currency: string;
  timezone: string;
}

export interface Customer {
  id: string;
  external_id: string | null;
  email: string | null;
  phone: string | null;
  first_name: string | null;
  last_name: string | null;
  name: string | null;
  company_name: string | null;
  customer_type: 'individual' | 'business';
  status: 'active' | 'inactive' | 'prospect';
  city: string | null;
  country: string | null;
  source: string | null;
  tags: string[];
  loyalty_tier: string | null;
  loyalty_points: number;
  is_vip: boolean;
  metrics: {
    total_orders: number;
    total_spend: number;
    events_attended: number;
    average_order_value: number;
    lifetime_value: number;
    first_purchase: string | null;
    last_purchase: string | null;
  };
  segments: string[];
  consent: { marketing_email?: boolean; marketing_sms?: boolean; updated_at?: string | null } | null;
  last_activity_at: string | null;
  created_at: string;
}

export interface Interaction {
  id: string;
  type: string;
  subject: string | null;
  description: string | null;
  outcome: string | null;
  priority: 'low' | 'medium' | 'high' | 'urgent';
  status: 'pending' | 'completed' | 'cancelled';
  follow_up_at: string | null;
  occurred_at: string;
  created_by: string | null;
}

export interface Segment {
  id: string;
  name: string;
  description: string | null;
  type: 'dynamic' | 'static';
  rules: unknown;
  auto_update: boolean;
  customer_count: number;
  last_refreshed_at: string | null;
  created_at: string;
}
