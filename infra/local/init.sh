#!/usr/bin/env bash
# One-shot setup of the local stack (the `init` service of localstack-compose.yml, run in the
# amazon/aws-cli image). Idempotent: running it again changes nothing that is already there.
#
# On LocalStack, what infra/template.yaml creates on AWS:
#   - the bucket,
#   - the jobs queue with its dead-letter queue (redrive after MAX_RECEIVE_COUNT receives),
#   - the events queue (with its own dead-letter queue) and the bucket notification that sends
#     every ObjectCreated under inbox/ to it,
#   - the refine queue with its dead-letter queue (refine requests for the `refiner` service).
# On MinIO: the same bucket, and a notification of ObjectCreated under inbox/ to the webhook
# target that the minio service declares (MINIO_NOTIFY_WEBHOOK_*_WHISPERQ), i.e. the API's
# POST /api/events/s3.
set -euo pipefail

LOCALSTACK_ENDPOINT=${LOCALSTACK_ENDPOINT:-http://localstack:4566}
MINIO_ENDPOINT=${MINIO_ENDPOINT:-http://minio:9000}
BUCKET=${BUCKET:-whisperq}
JOBS_QUEUE=${JOBS_QUEUE:-whisperq-jobs}
JOBS_DLQ=${JOBS_DLQ:-whisperq-jobs-dlq}
EVENTS_QUEUE=${EVENTS_QUEUE:-whisperq-events}
EVENTS_DLQ=${EVENTS_DLQ:-whisperq-events-dlq}
REFINE_QUEUE=${REFINE_QUEUE:-whisperq-refine}
REFINE_DLQ=${REFINE_DLQ:-whisperq-refine-dlq}
REFINE_VISIBILITY_TIMEOUT=${REFINE_VISIBILITY_TIMEOUT:-60}
MAX_RECEIVE_COUNT=${MAX_RECEIVE_COUNT:-4}
VISIBILITY_TIMEOUT=${VISIBILITY_TIMEOUT:-60}
INBOX_PREFIX=${INBOX_PREFIX:-inbox/}
MINIO_WEBHOOK_ARN=${MINIO_WEBHOOK_ARN:-arn:minio:sqs::WHISPERQ:webhook}

localstack() { aws --endpoint-url "$LOCALSTACK_ENDPOINT" --output text "$@"; }
minio() { aws --endpoint-url "$MINIO_ENDPOINT" --output text "$@"; }

ensure_bucket() { # $1: localstack or minio
  if "$1" s3api head-bucket --bucket "$BUCKET" >/dev/null 2>&1; then
    echo "$1: bucket $BUCKET exists"
  else
    "$1" s3api create-bucket --bucket "$BUCKET" >/dev/null
    echo "$1: bucket $BUCKET created"
  fi
}

ensure_queue() { # $1: name, $2: attributes as JSON; prints the queue URL
  local url
  url=$(localstack sqs create-queue --queue-name "$1" --attributes "$2" --query QueueUrl 2>/dev/null) || {
    # The queue exists with other attributes: bring them in line.
    url=$(localstack sqs get-queue-url --queue-name "$1" --query QueueUrl)
    localstack sqs set-queue-attributes --queue-url "$url" --attributes "$2"
  }
  echo "$url"
}

queue_arn() { localstack sqs get-queue-attributes --queue-url "$1" --attribute-names QueueArn --query Attributes.QueueArn; }

redrive() { # $1: dead-letter queue ARN, $2: max receives; the attributes JSON of the source queue
  printf '{"RedrivePolicy": "{\\"deadLetterTargetArn\\":\\"%s\\",\\"maxReceiveCount\\":\\"%s\\"}"' "$1" "$2"
}

# ---------------------------------------------------------------- LocalStack
ensure_bucket localstack

jobs_dlq_url=$(ensure_queue "$JOBS_DLQ" '{"MessageRetentionPeriod": "1209600"}')
jobs_attributes="$(redrive "$(queue_arn "$jobs_dlq_url")" "$MAX_RECEIVE_COUNT"), \"VisibilityTimeout\": \"$VISIBILITY_TIMEOUT\", \"MessageRetentionPeriod\": \"1209600\"}"
jobs_url=$(ensure_queue "$JOBS_QUEUE" "$jobs_attributes")
ensure_queue "$JOBS_QUEUE-high" "$jobs_attributes" >/dev/null  # priority=high jobs (the code adds "-high")
echo "localstack: jobs queue $jobs_url (dead letters after $MAX_RECEIVE_COUNT receives: $jobs_dlq_url)"

# Refine requests: as for jobs, the refiner records `failed` itself after MAX_RECEIVE_COUNT - 1 tries.
refine_dlq_url=$(ensure_queue "$REFINE_DLQ" '{"MessageRetentionPeriod": "1209600"}')
refine_attributes="$(redrive "$(queue_arn "$refine_dlq_url")" "$MAX_RECEIVE_COUNT"), \"VisibilityTimeout\": \"$REFINE_VISIBILITY_TIMEOUT\", \"MessageRetentionPeriod\": \"1209600\"}"
refine_url=$(ensure_queue "$REFINE_QUEUE" "$refine_attributes")
echo "localstack: refine queue $refine_url (dead letters after $MAX_RECEIVE_COUNT receives: $refine_dlq_url)"

events_dlq_url=$(ensure_queue "$EVENTS_DLQ" '{"MessageRetentionPeriod": "1209600"}')
events_attributes="$(redrive "$(queue_arn "$events_dlq_url")" 5), \"VisibilityTimeout\": \"360\"}"
events_url=$(ensure_queue "$EVENTS_QUEUE" "$events_attributes")
events_arn=$(queue_arn "$events_url")
echo "localstack: events queue $events_url"

localstack s3api put-bucket-notification-configuration --bucket "$BUCKET" --notification-configuration "{
  \"QueueConfigurations\": [{
    \"Id\": \"whisperq-inbox\",
    \"QueueArn\": \"$events_arn\",
    \"Events\": [\"s3:ObjectCreated:*\"],
    \"Filter\": {\"Key\": {\"FilterRules\": [{\"Name\": \"prefix\", \"Value\": \"$INBOX_PREFIX\"}]}}
  }, {
    \"Id\": \"whisperq-uploads\",
    \"QueueArn\": \"$events_arn\",
    \"Events\": [\"s3:ObjectCreated:*\"],
    \"Filter\": {\"Key\": {\"FilterRules\": [{\"Name\": \"prefix\", \"Value\": \"audio/\"}]}}
  }]
}"
echo "localstack: ObjectCreated under s3://$BUCKET/$INBOX_PREFIX -> $EVENTS_QUEUE"

# ---------------------------------------------------------------- MinIO
export AWS_ACCESS_KEY_ID=${MINIO_ACCESS_KEY:-${AWS_ACCESS_KEY_ID:-}}
export AWS_SECRET_ACCESS_KEY=${MINIO_SECRET_KEY:-${AWS_SECRET_ACCESS_KEY:-}}
ensure_bucket minio
minio_notification="{
  \"QueueConfigurations\": [{
    \"Id\": \"whisperq-inbox\",
    \"QueueArn\": \"$MINIO_WEBHOOK_ARN\",
    \"Events\": [\"s3:ObjectCreated:*\"],
    \"Filter\": {\"Key\": {\"FilterRules\": [{\"Name\": \"prefix\", \"Value\": \"$INBOX_PREFIX\"}]}}
  }, {
    \"Id\": \"whisperq-uploads\",
    \"QueueArn\": \"$MINIO_WEBHOOK_ARN\",
    \"Events\": [\"s3:ObjectCreated:*\"],
    \"Filter\": {\"Key\": {\"FilterRules\": [{\"Name\": \"prefix\", \"Value\": \"audio/\"}]}}
  }]
}"
# MinIO refuses an ARN whose target it does not know yet: retry a little, then warn instead of
# failing, since the rest of the stack works without it.
for attempt in 1 2 3 4 5; do
  if minio s3api put-bucket-notification-configuration --bucket "$BUCKET" \
    --notification-configuration "$minio_notification"; then
    echo "minio: ObjectCreated under s3://$BUCKET/$INBOX_PREFIX -> $MINIO_WEBHOOK_ARN"
    exit 0
  fi
  sleep "$attempt"
done
echo "WARNING: minio: could not set the $INBOX_PREFIX notification to $MINIO_WEBHOOK_ARN;" \
  "check the MINIO_NOTIFY_WEBHOOK_*_WHISPERQ settings and run: docker compose -f localstack-compose.yml run --rm init" >&2
