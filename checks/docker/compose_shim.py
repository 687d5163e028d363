#!/usr/bin/python3
"""Debian's docker-compose 1.29 with two differences between podman and Docker ironed out.

podman's Docker-compatible API reports a network's IPAM options as {"driver": "host-local"}
where Docker reports none. docker-compose compares them with the compose file's (none) and,
on any `up` or `run` while the project's network exists, asks for the network to be
recreated, which it cannot be while containers use it. Against Docker the same file and
commands work as they are; so this shim drops that one podman-reported option before the
comparison.

`docker-compose run` links the one-off container to the services it depends on (legacy
links, on top of the network's DNS); podman's API refuses links ("link is not supported").
On a compose network the service names resolve without them, so the shim sends none.
Otherwise docker-compose runs unchanged.
"""
import sys

import compose.network as network
import compose.service as service

_check_ipam = network.check_remote_ipam_config


def check_remote_ipam_config(remote, local):
    ipam = remote.get("IPAM") or {}
    options = dict(ipam.get("Options") or {})
    if options.get("driver") == "host-local":
        del options["driver"]
        remote = dict(remote, IPAM=dict(ipam, Options=options))
    return _check_ipam(remote, local)


network.check_remote_ipam_config = check_remote_ipam_config
service.Service._get_links = lambda self, link_to_self: []

if __name__ == "__main__":
    from compose.cli.main import main

    sys.exit(main())
