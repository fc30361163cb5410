import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';
import { roleForUser } from './dashboard-auth.js';

const authOf = (yaml: string) => parseConfig(`dashboard: { auth: ${yaml} }\n`).dashboard.auth!;

describe('dashboard.auth', () => {
  it('maps users by name first, then the strongest group, then the default', () => {
    const { roles } = authOf('{ mode: local-dev, roles: { users: { carol: viewer }, groups: { sre: operator, admins: admin }, default: none } }');
    expect(roleForUser(roles, 'carol', ['admins'])).toBe('viewer');
    expect(roleForUser(roles, 'dave', ['sre', 'admins'])).toBe('admin');
    expect(roleForUser(roles, 'erin', ['admins', 'sre'])).toBe('admin');
    expect(roleForUser(roles, 'frank', ['sre'])).toBe('operator');
    expect(roleForUser(roles, 'grace', ['unknown'])).toBe('none');
    expect(roleForUser(authOf('{ mode: local-dev }').roles, 'x', [])).toBe('viewer');
  });

  it('refuses a literal secret, an unknown role and an oidc block without what it needs, naming the path', () => {
    expect(() => authOf('{ mode: oidc, publicUrl: "https://l.example", sessionSecret: "hunter2hunter2hunter2hunter2hunter2", oidc: { issuer: "https://idp.example", clientId: c, clientSecret: { env: S } } }')).toThrow(
      /dashboard\.auth\.sessionSecret.*never the value itself/,
    );
    expect(() => authOf('{ mode: local-dev, roles: { users: { a: root } } }')).toThrow(/dashboard\.auth\.roles\.users\.a.*viewer, operator, admin/);
    expect(() => authOf('{ mode: oidc }')).toThrow(/oidc.*publicUrl.*sessionSecret|publicUrl/s);
    expect(() => authOf('{ mode: open }')).toThrow(/dashboard\.auth\.mode/);
    expect(() => authOf('{ mode: local-dev, allowedHosts: ["http://x.example"] }')).toThrow(/allowedHosts\[0\].*without scheme/);
  });

  it('accepts a complete oidc block and defaults the claims', () => {
    const auth = authOf('{ mode: oidc, publicUrl: "https://l.example", sessionSecret: { file: /run/secrets/s }, oidc: { issuer: "https://idp.example", clientId: c, clientSecret: { env: S } } }');
    expect(auth.oidc).toMatchObject({ userClaim: 'preferred_username', groupsClaim: 'groups', clientSecret: { env: 'S' } });
  });
});
