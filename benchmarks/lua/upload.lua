-- wrk script for the `upload` scenario: every request is a POST of 1 MiB.
-- Contract: sets the method, a 1 MiB body of "x" and its Content-Type; wrk
-- adds Content-Length from the body.
wrk.method = "POST"
wrk.body = string.rep("x", 1048576)
wrk.headers["Content-Type"] = "application/octet-stream"
