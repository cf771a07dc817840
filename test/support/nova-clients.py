"""Debian's openstacksdk and novaclient against ferry's Nova stand-in (test/support/nova-stub.ts).

Run with /usr/bin/python3 (Debian's interpreter: the python3 first on PATH may be another one
that cannot import Debian's packages). Reads one JSON object from argv[1]: auth_url, and the
servers each client live-migrates. Prints one JSON object per step on stdout, then "done".

Only the clients' own known bugs are worked around here, never the stand-in (NOTES.md):
openstacksdk 0.101's server_migrations() passes server_id where its resource's URI wants
server_uuid, so the script lists through the resource itself (its migrations(), which takes no
filters, is not used).
"""
import json
import sys
import time

import openstack
from keystoneauth1 import loading, session
from novaclient import client as nova_client

cfg = json.loads(sys.argv[1])
AUTH = {
    "auth_url": cfg["auth_url"],
    "username": "ferry",
    "password": "s3cret",
    "project_name": "ops",
    "user_domain_name": "Default",
    "project_domain_name": "Default",
}


def say(client, step, **facts):
    print(json.dumps({"client": client, "step": step, **facts}), flush=True)


def wait_for(read, want, what, timeout=20):
    """Polls read() until it returns a status in want; bounded by a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        status = read()
        if status in want:
            return status
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: still {status!r} after {timeout} s")
        time.sleep(0.05)


def sdk():
    from openstack.compute.v2 import server_migration

    conn = openstack.connect(
        auth_type="v3password",
        auth=AUTH,
        region_name="RegionOne",
        interface="internal",
        load_yaml_config=False,
        load_envvars=False,
    )
    compute = conn.compute
    hypervisors = list(compute.hypervisors(details=True))
    say("sdk", "hypervisors", names=sorted(h.name for h in hypervisors), hosts=sorted(h.service_details["host"] for h in hypervisors))
    services = [s for s in compute.services() if s.binary == "nova-compute"]
    say("sdk", "services", hosts=sorted(s.host for s in services))
    svc = next(s for s in services if s.host == "cmp-1")
    disabled = compute.disable_service(svc, host="cmp-1", binary="nova-compute", disabled_reason="sdk: maintenance")
    say("sdk", "disable", status=disabled.status, reason=disabled.disabled_reason)
    enabled = compute.enable_service(svc, host="cmp-1", binary="nova-compute")
    say("sdk", "enable", status=enabled.status)

    def migrations_of(server):
        # sdk 0.101 bug: compute.server_migrations(server) sends server_id; the resource wants server_uuid.
        return list(server_migration.ServerMigration.list(compute, server_uuid=server.id))

    for name, action in ((cfg["sdk_force"], "force_complete"), (cfg["sdk_abort"], "abort")):
        server = compute.find_server(name, ignore_missing=False)
        compute.live_migrate_server(server, host="cmp-2", block_migration="auto")
        wait_for(lambda: next((m.status for m in migrations_of(server)), None), {"running"}, f"sdk {name}")
        listed = migrations_of(server)
        mig = compute.get_server_migration(listed[0].id, server, ignore_missing=False)
        say("sdk", "migration", server=name, listed=len(listed), id=mig.id, status=mig.status,
            memory_total_bytes=mig.memory_total_bytes, dest=mig.dest_compute)
        if action == "force_complete":
            compute.force_complete_server_migration(mig, server)
        else:
            compute.abort_server_migration(mig, server)
        say("sdk", action, server=name, id=mig.id)


def novaclient():
    loader = loading.get_plugin_loader("v3password")
    sess = session.Session(auth=loader.load_from_options(**AUTH))
    nova = nova_client.Client("2.92", session=sess, region_name="RegionOne", endpoint_type="internal")
    hypervisors = nova.hypervisors.list()
    say("novaclient", "hypervisors", hosts=sorted(h.service["host"] for h in hypervisors))
    services = nova.services.list(host="cmp-1", binary="nova-compute")
    svc = services[0]
    disabled = nova.services.disable_log_reason(svc.id, "novaclient: maintenance")
    say("novaclient", "disable", status=disabled.status, reason=disabled.disabled_reason)
    enabled = nova.services.enable(svc.id)
    say("novaclient", "enable", status=enabled.status)

    for name, action in ((cfg["nova_force"], "force_complete"), (cfg["nova_abort"], "abort")):
        server = nova.servers.find(name=name, all_tenants=1)
        nova.servers.live_migrate(server, host="cmp-2", block_migration="auto")
        wait_for(lambda: next((m.status for m in nova.server_migrations.list(server)), None), {"running"},
                 f"novaclient {name}")
        listed = nova.server_migrations.list(server)
        mig = nova.server_migrations.get(server, listed[0].id)
        say("novaclient", "migration", server=name, listed=len(listed), id=mig.id, status=mig.status,
            memory_total_bytes=mig.memory_total_bytes, dest=mig.dest_compute)
        if action == "force_complete":
            nova.server_migrations.live_migrate_force_complete(server, mig.id)
        else:
            nova.server_migrations.live_migration_abort(server, mig.id)
        say("novaclient", action, server=name, id=mig.id)


sdk()
novaclient()
print("done", flush=True)
