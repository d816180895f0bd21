"""The scale-out rehearsal (``make scaleout-rehearsal``): the topology Kubernetes creates, as local processes.

Model-server replicas on distinct loopback addresses behind a DNS name that a DNS server of the rehearsal's
own answers (``dns_server``), two gateways with a ``dns://`` target naming that server, and steady load;
the replica set changes under load (``rehearsal``). Each replica reports the calls it receives (``replica``).
"""
