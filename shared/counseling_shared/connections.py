"""How many PostgreSQL connections one service process can hold at most, as a function of its
settings: what the deployment's `max_connections` must leave room for (docs/operations.md,
Scale; tests/deploy/test_kubernetes.py sums it over the overlays' replicas).

Every process holds its pool (`DB_POOL_MAX`) and one LISTEN connection for its outbox relay.
Each service adds its own (`<service>.bootstrap.connection_budget`): a LISTEN connection per
timer scheduler or worker loop, and notify the pools of its delivery lanes and webhook worker.
The migration connection is not counted: it is closed before the pool opens.
"""

from collections.abc import Sequence

RELAY_LISTENERS = 1
"""The outbox relay's LISTEN connection (`counseling_shared.relay`), in every process."""


def process_connections(
    db_pool_max: int, *, listeners: int = 0, own_pools: Sequence[int] = ()
) -> int:
    """The most one process holds: its pool, the relay's and the service's `listeners` LISTEN
    connections, and the maximum size of each pool the service opens for itself."""
    return db_pool_max + RELAY_LISTENERS + listeners + sum(own_pools)
