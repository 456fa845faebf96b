"""Operations: liveness and readiness endpoints, request ids and structured logs, Prometheus
metrics, and the deployment checks that stop a production process that cannot reach its
database, broker or storage (docs/operations.md)."""
