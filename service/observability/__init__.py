"""What the gateway tells about each request and each model version, beside the answer itself.

``request_ids``: one id per request (accepted from the caller when sane, else generated) in a context
variable, echoed by both surfaces and stamped on every log line. ``logging_setup``: text or JSON log lines.
"""
