"""``make bench``: the gateway against a parse-only ceiling, a naive in-process baseline and TF Serving mode,
under the same closed-loop load, payloads and concurrency levels (see ``runner`` and ``report``)."""
