"""Rolling a candidate version out safely: a shared policy, weighted canary, shadow traffic, a gate.

policy.py       the policy per model (labels, candidate, canary weight, shadow rate, automatic rule)
store.py        the shared state file: atomic writes, locked read-modify-write, last good on corrupt
routing.py      which version an unpinned request gets (weighted draw, sticky ``X-Routing-Key``)
routing_key.py  the request's routing key, bound by each surface like the request id
comparison.py   agreement, flip matrix, Jensen-Shannon divergence (training's ``compare`` reuses it)
ledger.py       per-process comparison counts, their files beside the state file, and the combined report
shadow.py       bounded shadow runs on the candidate after the primary answer exists
gate.py         start / promote / rollback and the automatic rule, every transition logged with figures
controller.py   ``Rollouts``: what the classify core calls, and the loop that polls, flushes and judges
metrics.py      Prometheus instruments of the comparison
cli.py          ``python -m service.rollout status|start|promote|rollback NAME``
"""
