"""Who may call the REST service, on which partition, with which roles (TSB.md 7).

``gate`` decides (credentials -> one partition, a role set and an identity; roles -> route);
``middleware`` runs it on every request before any route code; ``roles`` is the route -> role
table; ``apikeys``, ``bearer`` (JWT) and ``clientcert`` (mutual TLS) check one method each;
``settings`` reads the ``[rest]`` table's authentication keys; ``audit`` and ``ratelimit`` keep
the records. The routes only ever receive the caller's partition (``binding.bound_partition``).
"""
