"""Sans-I/O HTTP/1.1: parsing requests and framing responses, never a socket."""
