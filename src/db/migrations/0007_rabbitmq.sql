-- RabbitMQ publishing of the outbox (issue 3, item 3).

-- Set when the event was published to the RabbitMQ publish exchange (and confirmed by the broker).
-- Stays NULL while RABBITMQ_URL is unset; turning RabbitMQ on later publishes the retained backlog.
ALTER TABLE outbox ADD COLUMN rabbitmq_published_at timestamptz;

-- What the publisher reads: events not published yet, in seq order.
CREATE INDEX outbox_rabbitmq_pending_idx ON outbox (seq) WHERE rabbitmq_published_at IS NULL;
