import { systemClock } from '../../engine/clock.js';
import { NovaApi } from '../../engine/drivers/nova/api.js';
import {
  atLeast,
  MAX_MICROVERSION,
  MIN_MICROVERSION,
  type NovaConfig,
  PLACEMENT_MICROVERSION,
} from '../../engine/drivers/nova/config.js';
import { errorMessage, type HttpResponse } from '../../engine/drivers/nova/http.js';
import { KeystoneClient } from '../../engine/drivers/nova/keystone.js';
import { fetchTrusting } from '../../engine/drivers/nova/tls.js';
import { readSecret, SECRETS } from '../../engine/secrets.js';
import { attempt, type CheckResult } from './result.js';

type Outcome = Pick<CheckResult, 'verdict' | 'detail'>;

/** What the policy probes learn as they go: a hypervisor and a server to try the per-item rules on. */
interface Found {
  hypervisorId?: string;
  serverId?: string;
  actionId?: string;
}

/** A read's verdict: 2xx is allowed, 403 is the rule denied, anything else is reported as it came. */
function allowed(response: HttpResponse, rule: string, what: string): Outcome {
  if (response.status >= 200 && response.status < 300) return { verdict: 'ok', detail: `allowed (${what})` };
  if (response.status === 403)
    return {
      verdict: 'fail',
      detail: `denied (${what}: 403 ${errorMessage(response.body)}); allow ${rule} to ferry's role`,
    };
  return { verdict: 'fail', detail: `${what} answered ${response.status}: ${errorMessage(response.body)}` };
}

const rule = (name: string) => `os_compute_api:${name}`;

/** Rules only a write would tell, and why ferry does not try them. */
const WRITE_ONLY = [
  {
    rules: [rule('os-services:update')],
    what: 'PUT /os-services/{id}: disables the compute when a drain starts',
  },
  {
    rules: [rule('os-migrate-server:migrate_live')],
    what: 'POST /servers/{id}/action os-migrateLive: starts a live migration',
  },
  {
    rules: [rule('servers:migrations:force_complete')],
    what: 'POST .../migrations/{id}/action force_complete: an approved post-copy or pause',
  },
  { rules: [rule('servers:migrations:delete')], what: 'DELETE .../migrations/{id}: an abort' },
];

/**
 * Nova as the driver will use it: a Keystone token with a compute endpoint in its catalog, the
 * configured microversion inside the cloud's range, and each policy rule ferry needs, tried with
 * a harmless read (limit=1 listings, a listed server's details, a migration id that cannot exist:
 * Nova checks the rule before it looks the migration up). Rules only a write would exercise are
 * listed as `skip` with what the write does: check those with `oslopolicy-checker`.
 */
export async function checkNova(nova: NovaConfig, env: NodeJS.ProcessEnv): Promise<CheckResult[]> {
  const fetchImpl = nova.caFile !== undefined ? fetchTrusting(nova.caFile) : fetch;
  const target = nova.authUrl;
  const secret =
    nova.auth.type === 'password'
      ? readSecret(SECRETS.novaPassword, env, nova.auth.password)
      : readSecret(SECRETS.novaApplicationCredentialSecret, env, nova.auth.secret);
  const token = await attempt({ component: 'nova', target, check: 'token' }, async () => {
    const session = await new KeystoneClient({
      config: nova,
      clock: systemClock,
      fetch: fetchImpl,
    }).session();
    return {
      verdict: 'ok',
      detail:
        `issued (${nova.auth.type}, secret from ${secret?.origin ?? 'nowhere'}), expires ${new Date(session.expiresAt).toISOString()}; ` +
        `compute ${session.computeUrl} (${nova.interface}), placement ${session.placementUrl ?? 'not in the catalog'}`,
    };
  });
  if (token.verdict === 'fail') return [token];
  const api = new NovaApi({ config: nova, clock: systemClock, fetch: fetchImpl });
  const range = await attempt({ component: 'nova', target, check: 'microversion' }, async () => {
    const { url, version } = await api.apiVersion();
    const wanted = nova.microversion;
    if (!version || version.version === '')
      return {
        verdict: 'fail',
        detail: `${url} offers no microversions (v2.1 missing); ferry sends ${wanted}`,
      };
    const inside = atLeast(wanted, version.min_version) && atLeast(version.version, wanted);
    const words = `the cloud offers ${version.min_version} to ${version.version}; ferry sends ${wanted} (nova.microversion; it speaks ${MIN_MICROVERSION} to ${MAX_MICROVERSION})`;
    return inside
      ? { verdict: 'ok', detail: words }
      : { verdict: 'fail', detail: `${words}: set nova.microversion within the cloud's range` };
  });
  if (range.verdict === 'fail') return [token, range];

  const found: Found = {};
  const probe = (rules: string[], run: () => Promise<Outcome>) =>
    attempt({ component: 'nova', target, check: `policy ${rules.join(' + ')}` }, run);
  const needsServer = (run: (serverId: string) => Promise<Outcome>) => async (): Promise<Outcome> =>
    found.serverId ? run(found.serverId) : { verdict: 'skip', detail: 'no server in the cloud to try it on' };
  const listing = async (path: string, rules: string[], what: string, remember?: (body: unknown) => void) => {
    const response = await api.probe(path);
    if (response.status === 200) remember?.(response.body);
    return allowed(response, rules.join(' and '), what);
  };
  const results: CheckResult[] = [token, range];
  // In order: the listings find the hypervisor and the server the later probes use.
  const hypervisorRules = [rule('os-hypervisors:list-detail')];
  results.push(
    await probe(hypervisorRules, () =>
      listing('/os-hypervisors/detail?limit=1', hypervisorRules, 'GET /os-hypervisors/detail', (body) => {
        found.hypervisorId = (
          body as { hypervisors?: { id?: string | number }[] }
        ).hypervisors?.[0]?.id?.toString();
      }),
    ),
  );
  const serverRules = [rule('servers:detail'), rule('servers:detail:get_all_tenants')];
  results.push(
    await probe(serverRules, () =>
      listing(
        '/servers/detail?all_tenants=1&limit=1',
        serverRules,
        'GET /servers/detail?all_tenants=1',
        (body) => {
          found.serverId = (body as { servers?: { id?: string }[] }).servers?.[0]?.id;
        },
      ),
    ),
  );
  const showRules = [rule('servers:show'), rule('os-extended-server-attributes')];
  results.push(
    await probe(
      showRules,
      needsServer(async (id) => {
        const response = await api.probe(`/servers/${id}`);
        const verdict = allowed(response, showRules[0]!, 'GET /servers/{id}');
        if (verdict.verdict !== 'ok') return verdict;
        const server = (response.body as { server?: Record<string, unknown> }).server ?? {};
        return 'OS-EXT-SRV-ATTR:host' in server
          ? { verdict: 'ok', detail: 'allowed (GET /servers/{id} shows OS-EXT-SRV-ATTR:host)' }
          : {
              verdict: 'fail',
              detail: `GET /servers/{id} shows no OS-EXT-SRV-ATTR:host: allow ${showRules[1]} to ferry's role (ferry cannot see where servers run)`,
            };
      }),
    ),
  );
  for (const [rules, path, what] of [
    [
      [rule('os-server-groups:index')],
      '/os-server-groups?all_projects=true&limit=1',
      'GET /os-server-groups',
    ],
    [
      [rule('os-availability-zone:detail')],
      '/os-availability-zone/detail',
      'GET /os-availability-zone/detail',
    ],
    [[rule('os-services:list')], '/os-services?binary=nova-compute', 'GET /os-services'],
    [[rule('os-migrations:index')], '/os-migrations?limit=1', 'GET /os-migrations'],
  ] as const)
    results.push(await probe([...rules], () => listing(path, [...rules], what)));
  results.push({
    component: 'nova',
    target,
    check: `policy ${rule('os-server-groups:index:all_projects')}`,
    verdict: 'skip',
    detail:
      "a read cannot tell: when it is denied Nova lists only the project's own groups, silently; check it with oslopolicy-checker",
  });
  const migrationIndex = [rule('servers:migrations:index')];
  results.push(
    await probe(
      migrationIndex,
      needsServer(async (id) =>
        allowed(
          await api.probe(`/servers/${id}/migrations`),
          migrationIndex[0]!,
          'GET /servers/{id}/migrations',
        ),
      ),
    ),
  );
  const migrationShow = [rule('servers:migrations:show')];
  results.push(
    await probe(
      migrationShow,
      needsServer(async (id) => {
        // Migration ids start at 1: 0 is never found, so 404 means the rule let the request through.
        const response = await api.probe(`/servers/${id}/migrations/0`);
        return response.status === 404
          ? { verdict: 'ok', detail: 'allowed (GET /servers/{id}/migrations/0 got past the rule to 404)' }
          : allowed(response, migrationShow[0]!, 'GET /servers/{id}/migrations/0');
      }),
    ),
  );
  const actionList = [rule('os-instance-actions:list')];
  results.push(
    await probe(
      actionList,
      needsServer(async (id) => {
        const response = await api.probe(`/servers/${id}/os-instance-actions`);
        if (response.status === 200)
          found.actionId = (
            response.body as { instanceActions?: { request_id?: string }[] }
          ).instanceActions?.[0]?.request_id;
        return allowed(response, actionList[0]!, 'GET /servers/{id}/os-instance-actions');
      }),
    ),
  );
  const actionShow = [rule('os-instance-actions:show'), rule('os-instance-actions:events')];
  results.push(
    await probe(
      actionShow,
      needsServer(async (id) => {
        if (!found.actionId) return { verdict: 'skip', detail: 'no instance action to read' };
        const response = await api.probe(`/servers/${id}/os-instance-actions/${found.actionId}`);
        const verdict = allowed(response, actionShow[0]!, 'GET /servers/{id}/os-instance-actions/{request}');
        if (verdict.verdict !== 'ok') return verdict;
        return 'events' in ((response.body as { instanceAction?: object }).instanceAction ?? {})
          ? { verdict: 'ok', detail: 'allowed, with events (failure causes)' }
          : {
              verdict: 'fail',
              detail: `the action shows no events: allow ${actionShow[1]} to ferry's role (failed migrations would have no cause)`,
            };
      }),
    ),
  );
  if (atLeast(nova.microversion, PLACEMENT_MICROVERSION))
    for (const [rules, suffix] of [
      [['placement:resource_providers:inventories:list'], 'inventories'],
      [['placement:resource_providers:usages'], 'usages'],
    ] as const)
      results.push(
        await probe([...rules], async () => {
          if (!found.hypervisorId) return { verdict: 'skip', detail: 'no hypervisor to try it on' };
          const response = await api.probe(`/resource_providers/${found.hypervisorId}/${suffix}`, {
            placement: true,
          });
          return allowed(response, rules[0], `Placement GET /resource_providers/{uuid}/${suffix}`);
        }),
      );
  for (const write of WRITE_ONLY)
    results.push({
      component: 'nova',
      target,
      check: `policy ${write.rules.join(' + ')}`,
      verdict: 'skip',
      detail: `only a write would tell (${write.what}); check it with oslopolicy-checker`,
    });
  return results;
}
