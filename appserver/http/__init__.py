"""Sans-I/O wire protocols, never a socket: HTTP/1.1 requests and responses
(``parser``, ``head``, ``body``, ``plain``, ``writer``, ``errors``), the PROXY
protocol header (``proxy_protocol``) and uwsgi packets (``uwsgi``)."""
