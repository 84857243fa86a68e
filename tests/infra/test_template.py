"""infra/template.yaml, checked offline: cfn-lint (which validates the SAM resources itself) and the
contract with the code (handlers, settings names, object key prefixes, least-privilege IAM)."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from typing import Any, get_args

import pytest

from tests.infra.support import REPO, TEMPLATE, env_lines, env_names_in, load_cfn, settings_env_names
from whisperq import layout
from whisperq.settings import RefineSettings, RunnerSettings, Settings

# Placeholders for what only exists once deployed.
DEPLOYED = {
    "Bucket": "whisperq-123456789012-us-east-1-abcd1234",
    "JobsQueue": "https://sqs.us-east-1.amazonaws.com/123456789012/whisperq-JobsQueue-ABC",
    "RefineQueue": "https://sqs.us-east-1.amazonaws.com/123456789012/whisperq-refine",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "whisperq",
}
# Values given at deploy time for parameters that have no default (secrets must not have one).
GIVEN = {"RefineApiKey": "sk-test-key"}
FUNCTIONS = ("ApiFunction", "EventsFunction", "RefineFunction")
WRITE_ACTIONS = re.compile(
    r"^(s3:(Put|Delete|Abort|Restore|Replicate|Create)|sqs:(Send|Delete|Purge|Change|Receive|Set|Create))"
)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_cfn()


@pytest.fixture(scope="module")
def resources(template) -> dict[str, Any]:
    return template["Resources"]


OBJECT_READ_WRITE = {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}


def props(resources, name: str) -> dict[str, Any]:
    return resources[name]["Properties"]


def default(template, parameter: str) -> Any:
    return template["Parameters"][parameter]["Default"]


def resolve(template, value: Any, local: dict[str, Any] | None = None) -> Any:
    """The value an intrinsic function takes with the parameters' defaults and placeholder resources."""
    local = local or {}
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            if arg in GIVEN:
                return GIVEN[arg]
            if arg in template["Parameters"]:
                return str(default(template, arg))
            return DEPLOYED[arg]
        if fn == "Fn::FindInMap":
            name, key, attribute = (resolve(template, part, local) for part in arg)
            return template["Mappings"][name][str(key)][attribute]
        if fn == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else arg
            variables = {k: resolve(template, v, local) for k, v in variables.items()}
            return substitute(template, text, variables)
    return value


def substitute(template, text: str, variables: dict[str, Any]) -> str:
    def one(match: re.Match) -> str:
        name = match.group(1)
        if name in variables:
            return str(variables[name])
        return str(resolve(template, {"Ref": name}))

    return re.sub(r"\$\{([A-Za-z0-9:]+)\}", one, text)


def function_env(template, resources, name: str) -> dict[str, Any]:
    env = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    env.update(props(resources, name).get("Environment", {}).get("Variables", {}))
    return env


def user_data(template, resources) -> str:
    data = props(resources, "RunnerLaunchTemplate")["LaunchTemplateData"]["UserData"]["Fn::Base64"]
    return resolve(template, data)


def statements(resources, kinds=("AWS::IAM::Role",)) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, resource in resources.items():
        if resource["Type"] not in kinds:
            continue
        properties = resource.get("Properties", {})
        documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        if "PolicyDocument" in properties:
            documents.append(properties["PolicyDocument"])
        for document in documents:
            found.extend((name, statement) for statement in document["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions_by_resource(resources, role: str) -> dict[str, set[str]]:
    """Allowed actions of a role's inline policies, keyed by a readable name of the resource."""
    result: dict[str, set[str]] = {}
    for _, statement in statements({role: resources[role]}):
        assert statement["Effect"] == "Allow"
        for resource in as_list(statement["Resource"]):
            key = json.dumps(resource, sort_keys=True)
            result.setdefault(key, set()).update(as_list(statement["Action"]))
    return result


def arn_of(name: str) -> str:
    return json.dumps({"Fn::GetAtt": [name, "Arn"]}, sort_keys=True)


def objects_of(name: str) -> str:
    return json.dumps({"Fn::Sub": f"${{{name}.Arn}}/*"}, sort_keys=True)


# ---------------------------------------------------------------- linters


def test_cfn_lint_reports_nothing():
    from cfnlint.api import lint_file  # cfn-lint is a test dependency: its absence is a failure

    matches = lint_file(TEMPLATE)
    assert not matches, "\n".join(str(match) for match in matches)


def test_runner_user_data_is_valid_bash(template, resources, tmp_path):
    script = tmp_path / "user-data.sh"
    script.write_text(user_data(template, resources))
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- queues


def test_jobs_queue_dead_letters_after_max_receive_count(template, resources):
    queue = props(resources, "JobsQueue")
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    assert default(template, "MaxReceiveCount") == 4
    assert resources["JobsDeadLetterQueue"]["Type"] == "AWS::SQS::Queue"
    assert "RedrivePolicy" not in props(resources, "JobsDeadLetterQueue")
    # The dead-letter queue keeps messages at least as long as the queue feeding it.
    assert props(resources, "JobsDeadLetterQueue")["MessageRetentionPeriod"] >= queue["MessageRetentionPeriod"]


def test_runner_attempts_leave_one_receive_to_record_the_error(template):
    """The runner marks a job `error` after max_attempts; SQS dead-letters after maxReceiveCount.
    As in the embedded queue (max_receives = max_attempts + 1), one receive is left for that."""
    parameter = template["Parameters"]["MaxReceiveCount"]
    table = template["Mappings"]["AttemptsByReceiveCount"]
    assert sorted(int(k) for k in table) == sorted(parameter["AllowedValues"])
    for receives, row in table.items():
        assert int(row["Attempts"]) == int(receives) - 1
    assert parameter["Default"] == RunnerSettings().max_attempts + 1


def test_visibility_timeout_is_the_runner_setting(template, resources):
    assert props(resources, "JobsQueue")["VisibilityTimeout"] == {"Ref": "VisibilityTimeoutSeconds"}
    assert default(template, "VisibilityTimeoutSeconds") == RunnerSettings().visibility_timeout_s
    assert function_env(template, resources, "ApiFunction")["WHISPERQ_RUNNER__VISIBILITY_TIMEOUT_S"] == {
        "Ref": "VisibilityTimeoutSeconds"
    }
    runner_env = env_lines(user_data(template, resources))
    assert runner_env["WHISPERQ_RUNNER__VISIBILITY_TIMEOUT_S"] == str(default(template, "VisibilityTimeoutSeconds"))


def test_events_queue_outlasts_the_events_function(resources):
    queue = props(resources, "EventsQueue")
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]}
    assert queue["VisibilityTimeout"] >= 6 * props(resources, "EventsFunction")["Timeout"]


# ---------------------------------------------------------------- bucket


def test_inbox_and_upload_notifications_go_to_the_events_queue(resources):
    configs = props(resources, "Bucket")["NotificationConfiguration"]["QueueConfigurations"]
    for config in configs:
        assert config["Event"] == "s3:ObjectCreated:*"
        assert config["Queue"] == {"Fn::GetAtt": ["EventsQueue", "Arn"]}
    prefixes = [c["Filter"]["S3Key"]["Rules"] for c in configs]
    assert prefixes == [[{"Name": "prefix", "Value": layout.INBOX_PREFIX}], [{"Name": "prefix", "Value": "audio/"}]]
    assert "EventsQueuePolicy" in as_list(resources["Bucket"]["DependsOn"])


def test_events_queue_accepts_messages_from_this_bucket_only(resources):
    (statement,) = props(resources, "EventsQueuePolicy")["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == {"Fn::GetAtt": ["EventsQueue", "Arn"]}
    name_text, name_vars = props(resources, "Bucket")["BucketName"]["Fn::Sub"]
    arn_text, arn_vars = statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]
    assert arn_text == "arn:${AWS::Partition}:s3:::" + name_text
    assert arn_vars == name_vars
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_bucket_is_private_encrypted_and_unversioned(resources):
    bucket = props(resources, "Bucket")
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert bucket.get("VersioningConfiguration", {}).get("Status") != "Enabled"
    assert resources["Bucket"]["DeletionPolicy"] == "Retain"
    (deny,) = props(resources, "BucketPolicy")["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_lifecycle_rules_expire_audio_results_and_logs(template, resources):
    rules = props(resources, "Bucket")["LifecycleConfiguration"]["Rules"]
    assert all(rule["Status"] == "Enabled" for rule in rules)
    expiry = {rule["Prefix"]: rule["ExpirationInDays"] for rule in rules if "Prefix" in rule}
    assert expiry["audio/"] == {"Ref": "AudioRetentionDays"}
    assert expiry["results/"] == {"Ref": "ResultRetentionDays"}
    assert expiry["logs/"] == {"Ref": "LogRetentionDays"}
    assert expiry["inbox/"] == {"Ref": "AudioRetentionDays"}
    assert 1 <= default(template, "LogRetentionDays") <= 14
    # Never expire what the service cannot lose: manifests and the queue index.
    assert not {layout.JOBS_PREFIX, layout.INDEX_PREFIX} & set(expiry)
    (abort,) = [rule for rule in rules if "AbortIncompleteMultipartUpload" in rule]
    assert "Prefix" not in abort and abort["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1


def test_key_prefixes_are_the_layout_constants(resources):
    bucket = props(resources, "Bucket")
    in_template = {rule["Prefix"] for rule in bucket["LifecycleConfiguration"]["Rules"] if "Prefix" in rule}
    for config in bucket["NotificationConfiguration"]["QueueConfigurations"]:
        in_template.add(config["Filter"]["S3Key"]["Rules"][0]["Value"])
    expected = {
        layout.AUDIO_PREFIX,
        layout.RESULTS_PREFIX,
        layout.LOGS_PREFIX,
        layout.RUNNERS_PREFIX,
        layout.INBOX_PREFIX,
        layout.OUTBOX_PREFIX,
    }
    assert in_template == expected
    assert {"audio/", "results/", "logs/", "inbox/"} <= in_template


# ---------------------------------------------------------------- functions


def test_functions_handlers_and_runtime(template, resources):
    assert template["Globals"]["Function"]["Runtime"] == "python3.11"
    assert props(resources, "ApiFunction")["Handler"] == "functions.lambda_handler.handler"
    assert props(resources, "EventsFunction")["Handler"] == "functions.lambda_handler.events_handler"
    assert props(resources, "RefineFunction")["Handler"] == "functions.refine_handler.handler"
    # HTTP API integrations time out at 30 s.
    assert props(resources, "ApiFunction")["Timeout"] < 30


def test_api_function_serves_every_path(resources):
    events = props(resources, "ApiFunction")["Events"]
    routes = {(e["Properties"]["Path"], e["Properties"]["Method"]) for e in events.values()}
    assert routes == {("/", "ANY"), ("/{proxy+}", "ANY")}
    assert all(e["Type"] == "HttpApi" and e["Properties"]["ApiId"] == {"Ref": "Api"} for e in events.values())
    assert resources["Api"]["Type"] == "AWS::Serverless::HttpApi"


def test_events_function_consumes_the_events_queue(resources):
    (event,) = props(resources, "EventsFunction")["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["EventsQueue", "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_functions_use_the_bucket_the_jobs_queue_and_the_refine_queue(template, resources):
    for name in FUNCTIONS:
        env = function_env(template, resources, name)
        assert env["WHISPERQ_STORE_URL"] == {"Fn::Sub": "s3://${Bucket}"}
        assert env["WHISPERQ_QUEUE_URL"] == {"Ref": "JobsQueue"}
        assert env["WHISPERQ_REFINE_QUEUE_URL"] == {"Ref": "RefineQueue"}
        assert env["WHISPERQ_DATA_DIR"].startswith("/tmp/")  # the only writable folder in Lambda


def test_code_uri_is_what_the_build_script_makes(template):
    code_uri = template["Globals"]["Function"]["CodeUri"]
    assert (TEMPLATE.parent / code_uri).resolve() == (REPO / "infra" / "build" / "lambda").resolve()
    script = (REPO / "infra" / "build_lambda.sh").read_text()
    assert 'out="$root/infra/build/lambda"' in script
    assert "--python-version 3.11" in script and "aarch64" in script
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]


def top_level_names(path) -> set[str]:
    tree = ast.parse(path.read_text())
    defined = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            defined.add(node.target.id)
    return defined


def test_every_function_handler_is_defined_in_the_code(resources):
    """``module.attribute`` of each function is a file the build script copies that defines it."""
    functions = [name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    assert set(functions) == set(FUNCTIONS)
    for name in functions:
        module, attribute = props(resources, name)["Handler"].rsplit(".", 1)
        path = REPO.joinpath(*module.split(".")).with_suffix(".py")
        assert path.exists(), f"{name}: no {path.relative_to(REPO)}"
        assert module.split(".")[0] in ("functions", "whisperq"), f"{name}: not in the Lambda package"
        assert attribute in top_level_names(path), f"{name}: {module} defines no {attribute}"


# ---------------------------------------------------------------- settings


def test_every_whisperq_variable_is_a_setting(template):
    used = env_names_in(template)
    assert used, "the template should configure the service through WHISPERQ_* variables"
    unknown = used - settings_env_names()
    assert not unknown, f"not settings of whisperq.settings.Settings: {sorted(unknown)}"


def test_runner_user_data_sets_store_queue_and_devices(template, resources):
    env = env_lines(user_data(template, resources))
    assert env["WHISPERQ_STORE_URL"] == f"s3://{DEPLOYED['Bucket']}"
    assert env["WHISPERQ_QUEUE_URL"] == DEPLOYED["JobsQueue"]
    assert env["WHISPERQ_RUNNER__DEVICES"] == "auto"
    assert env["WHISPERQ_RUNNER__MAX_ATTEMPTS"] == str(default(template, "MaxReceiveCount") - 1)
    assert "whisperq runner" in user_data(template, resources)
    # Runners with upgrade_transcribation jobs send refine requests.
    assert env["WHISPERQ_REFINE_QUEUE_URL"] == DEPLOYED["RefineQueue"]


@pytest.mark.parametrize("where", [*FUNCTIONS, "runner"])
def test_configured_values_are_valid_settings(template, resources, monkeypatch, where):
    if where == "runner":
        env = env_lines(user_data(template, resources))
    else:
        env = {k: str(resolve(template, v)) for k, v in function_env(template, resources, where).items()}
    for name in list(os.environ):
        if name.upper().startswith("WHISPERQ_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.resolved_store_url() == f"s3://{DEPLOYED['Bucket']}"
    assert settings.resolved_queue_url() == DEPLOYED["JobsQueue"]
    assert settings.resolved_refine_queue_url() == DEPLOYED["RefineQueue"]
    assert settings.runner.max_attempts == default(template, "MaxReceiveCount") - 1
    # As for jobs: one receive is left for the refiner to record `failed` before SQS dead-letters.
    assert settings.refine.max_attempts == default(template, "MaxReceiveCount") - 1


# ---------------------------------------------------------------- IAM


def test_functions_have_their_own_roles(resources):
    """With an explicit Role, SAM adds no policies of its own (for an SQS trigger it would otherwise
    attach AWSLambdaSQSQueueExecutionRole, which allows receive and delete on every queue)."""
    for name in FUNCTIONS:
        role = f"{name}Role"
        function = props(resources, name)
        assert function["Role"] == {"Fn::GetAtt": [role, "Arn"]}
        assert "Policies" not in function
        trust = props(resources, role)["AssumeRolePolicyDocument"]["Statement"]
        assert [s["Principal"] for s in trust] == [{"Service": "lambda.amazonaws.com"}]
        assert "ManagedPolicyArns" not in props(resources, role)


def test_no_wildcard_resource_or_action_for_s3_and_sqs(resources):
    for name, statement in statements(resources, ("AWS::IAM::Role", "AWS::SQS::QueuePolicy")):
        if statement["Effect"] != "Allow":
            continue
        actions = as_list(statement["Action"])
        assert not [a for a in actions if a.endswith("*")], f"{name}: wildcard action {actions}"
        touches_data = [a for a in actions if a.startswith(("s3:", "sqs:"))]
        if touches_data:
            assert "*" not in as_list(statement["Resource"]), f"{name}: {touches_data} on every resource"
        writes = [a for a in actions if WRITE_ACTIONS.match(a)]
        for resource in as_list(statement["Resource"]):
            wildcard = isinstance(resource, str) and (resource == "*" or resource.endswith(":*"))
            assert not (writes and wildcard), f"{name}: {writes} on {resource}"


def test_api_role_can_store_objects_and_enqueue_but_not_consume(resources):
    granted = actions_by_resource(resources, "ApiFunctionRole")
    assert granted[objects_of("Bucket")] == OBJECT_READ_WRITE
    assert granted[arn_of("Bucket")] == {"s3:ListBucket"}
    for queue in ("JobsQueue", "JobsHighPriorityQueue"):
        assert granted[arn_of(queue)] == {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
    assert not {"sqs:DeleteMessage", "sqs:SendMessage"} & granted[arn_of("JobsDeadLetterQueue")]
    assert arn_of("EventsQueue") not in granted
    # POST /api/tasks/{id}/refine sends a refine request; taking them is the refine function's job.
    assert granted[arn_of("RefineQueue")] == {"sqs:SendMessage"}


def test_events_role_adds_consuming_the_events_queue(resources):
    api = actions_by_resource(resources, "ApiFunctionRole")
    events = actions_by_resource(resources, "EventsFunctionRole")
    for key in (objects_of("Bucket"), arn_of("Bucket"), arn_of("JobsQueue")):
        assert events[key] == api[key]
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} <= events[arn_of("EventsQueue")]


def test_runner_role_works_the_jobs_queue(resources):
    granted = actions_by_resource(resources, "RunnerRole")
    assert granted[objects_of("Bucket")] >= {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    assert granted[arn_of("Bucket")] == {"s3:ListBucket"}
    assert granted[arn_of("JobsQueue")] == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:SendMessage",
    }
    assert arn_of("EventsQueue") not in granted
    assert granted[arn_of("RefineQueue")] == {"sqs:SendMessage"}
    trust = props(resources, "RunnerRole")["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "ec2.amazonaws.com"}]


# ---------------------------------------------------------------- LLM refinement


def refine_settings(template, resources) -> RefineSettings:
    """The refine settings the refine function runs with (the template's values, else the defaults)."""
    env = {k: str(resolve(template, v)) for k, v in function_env(template, resources, "RefineFunction").items()}
    prefix = "WHISPERQ_REFINE__"
    return RefineSettings(**{k.removeprefix(prefix).lower(): v for k, v in env.items() if k.startswith(prefix)})


def test_refine_queue_dead_letters_after_max_receive_count(resources):
    queue = props(resources, "RefineQueue")
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["RefineDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    assert resources["RefineDeadLetterQueue"]["Type"] == "AWS::SQS::Queue"
    assert "RedrivePolicy" not in props(resources, "RefineDeadLetterQueue")
    assert props(resources, "RefineDeadLetterQueue")["MessageRetentionPeriod"] >= queue["MessageRetentionPeriod"]
    for name in ("RefineQueue", "RefineDeadLetterQueue"):
        assert props(resources, name)["SqsManagedSseEnabled"] is True


def test_refine_function_consumes_the_refine_queue_with_partial_failures(resources):
    (event,) = props(resources, "RefineFunction")["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["RefineQueue", "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "RefineMaxConcurrency"}
    consumers = [
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        for e in resource["Properties"].get("Events", {}).values()
        if e["Type"] == "SQS" and e["Properties"]["Queue"] == {"Fn::GetAtt": ["RefineQueue", "Arn"]}
    ]
    assert consumers == ["RefineFunction"]


def test_refine_function_outlasts_its_llm_requests_and_the_queue_outlasts_it(template, resources):
    settings = refine_settings(template, resources)
    timeout = props(resources, "RefineFunction")["Timeout"]
    assert timeout <= 900  # Lambda's limit
    # One chunk with every retry and every wait between them fits in one invocation.
    waits = sum(min(settings.backoff_s * 2**n, settings.max_backoff_s) for n in range(settings.retries))
    assert timeout > (settings.retries + 1) * settings.timeout_s + waits
    # AWS: the queue's visibility timeout at least six times the function's timeout.
    assert props(resources, "RefineQueue")["VisibilityTimeout"] >= 6 * timeout
    # The handler keeps its message hidden in shorter steps while it works (VisibilityKeeper).
    assert settings.visibility_timeout_s <= props(resources, "RefineQueue")["VisibilityTimeout"]


def test_refine_function_talks_to_the_configured_llm(template, resources):
    env = function_env(template, resources, "RefineFunction")
    assert env["WHISPERQ_REFINE_MODEL"] == {"Ref": "RefineModel"}
    assert default(template, "RefineModel") == Settings().refine_model
    assert env["WHISPERQ_REFINE__BACKEND"] == {"Ref": "RefineBackend"}
    backends = set(get_args(RefineSettings.model_fields["backend"].annotation))
    assert set(template["Parameters"]["RefineBackend"]["AllowedValues"]) <= backends - {"g4f"}  # g4f: not packaged
    assert default(template, "RefineBackend") == RefineSettings().backend
    # The openai SDK takes an empty OPENAI_BASE_URL as the base URL itself: never set it empty.
    assert env["OPENAI_BASE_URL"] == {"Ref": "RefineBaseUrl"}
    assert re.fullmatch(template["Parameters"]["RefineBaseUrl"]["AllowedPattern"], default(template, "RefineBaseUrl"))
    assert not re.fullmatch(template["Parameters"]["RefineBaseUrl"]["AllowedPattern"], "")
    requirements = (REPO / "infra" / "lambda-requirements.txt").read_text()
    assert re.search(r"^openai\b", requirements, flags=re.MULTILINE), "the refine function imports openai"


def test_llm_api_key_is_a_secret_parameter(template, resources):
    env = function_env(template, resources, "RefineFunction")
    assert env["OPENAI_API_KEY"] == {"Ref": "RefineApiKey"}
    parameter = template["Parameters"]["RefineApiKey"]
    assert parameter["NoEcho"] is True and "Default" not in parameter
    # Nowhere else: not in the other functions, the runners' user data or the outputs.
    for name in ("ApiFunction", "EventsFunction"):
        assert "OPENAI_API_KEY" not in function_env(template, resources, name)
    assert "RefineApiKey" not in json.dumps(template["Outputs"])
    assert "RefineApiKey" not in json.dumps(props(resources, "RunnerLaunchTemplate"))
    for name, spec in template["Parameters"].items():
        if spec.get("NoEcho"):
            assert "Default" not in spec, f"{name}: a secret with a default value"


def test_refine_role_consumes_the_refine_queue_only(resources):
    granted = actions_by_resource(resources, "RefineFunctionRole")
    assert granted[objects_of("Bucket")] == OBJECT_READ_WRITE
    assert granted[arn_of("Bucket")] == {"s3:ListBucket"}
    assert granted[arn_of("RefineQueue")] == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    }
    for queue in ("JobsQueue", "JobsHighPriorityQueue", "EventsQueue", "RefineDeadLetterQueue"):
        assert arn_of(queue) not in granted, queue
    assert arn_of("RefineQueue") not in actions_by_resource(resources, "EventsFunctionRole")


@pytest.mark.parametrize("queue", ["JobsDeadLetterQueue", "EventsDeadLetterQueue", "RefineDeadLetterQueue"])
def test_dead_letters_raise_an_alarm(template, resources, queue):
    alarms = [
        props(resources, name)
        for name, resource in resources.items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        and resource["Properties"].get("Dimensions")
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    ]
    assert len(alarms) == 1
    (alarm,) = alarms
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["Threshold"] <= 1
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert resources["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"}
    assert default(template, "AlarmEmail") == ""


# ---------------------------------------------------------------- runner fleet


def test_runner_group_scales_between_zero_and_the_maximum(template, resources):
    group = props(resources, "RunnerGroup")
    assert str(group["MinSize"]) == "0"
    assert group["MaxSize"] == {"Ref": "RunnerMaxInstances"}
    assert group["VPCZoneIdentifier"] == {"Ref": "RunnerSubnetIds"}
    data = props(resources, "RunnerLaunchTemplate")["LaunchTemplateData"]
    assert data["InstanceType"] == {"Ref": "RunnerInstanceType"}
    assert default(template, "RunnerInstanceType") == "g5.xlarge"
    assert template["Parameters"]["RunnerAmiId"]["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
    assert data["IamInstanceProfile"] == {"Arn": {"Fn::GetAtt": ["RunnerInstanceProfile", "Arn"]}}
    assert props(resources, "RunnerInstanceProfile")["Roles"] == [{"Ref": "RunnerRole"}]
    assert data["MetadataOptions"]["HttpTokens"] == "required"


def test_scaling_follows_the_jobs_queue_backlog(resources):
    def queue_of(metric: dict[str, Any]) -> Any:
        (dimension,) = metric["Dimensions"]
        assert dimension["Name"] == "QueueName"
        return dimension["Value"]

    backlog = props(resources, "RunnerBacklogAlarm")
    assert (backlog["Namespace"], backlog["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert queue_of(backlog) == {"Fn::GetAtt": ["JobsQueue", "QueueName"]}
    assert backlog["AlarmActions"] == [{"Ref": "RunnerScaleOutPolicy"}]
    out = props(resources, "RunnerScaleOutPolicy")
    assert out["AutoScalingGroupName"] == {"Ref": "RunnerGroup"} and out["PolicyType"] == "StepScaling"
    assert all(step["ScalingAdjustment"] > 0 for step in out["StepAdjustments"])

    idle = props(resources, "RunnerIdleAlarm")
    watched = {m["MetricStat"]["Metric"]["MetricName"] for m in idle["Metrics"] if "MetricStat" in m}
    assert watched == {"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible"}
    assert {queue_of(m["MetricStat"]["Metric"])["Fn::GetAtt"][0] for m in idle["Metrics"] if "MetricStat" in m} == {
        "JobsQueue",
        "JobsHighPriorityQueue",
    }
    high = props(resources, "RunnerHighPriorityBacklogAlarm")
    assert queue_of(high) == {"Fn::GetAtt": ["JobsHighPriorityQueue", "QueueName"]}
    assert high["AlarmActions"] == [{"Ref": "RunnerScaleOutPolicy"}]
    assert idle["AlarmActions"] == [{"Ref": "RunnerScaleInPolicy"}]
    scale_in = props(resources, "RunnerScaleInPolicy")
    assert scale_in["AdjustmentType"] == "ExactCapacity"
    assert [step["ScalingAdjustment"] for step in scale_in["StepAdjustments"]] == [0]


def test_outputs(template):
    outputs = template["Outputs"]
    assert {
        "ApiUrl",
        "BucketName",
        "JobsQueueUrl",
        "JobsDeadLetterQueueUrl",
        "EventsQueueUrl",
        "RefineQueueUrl",
        "RefineDeadLetterQueueUrl",
    } <= set(outputs)
    assert outputs["RefineQueueUrl"]["Value"] == {"Ref": "RefineQueue"}
    assert outputs["BucketName"]["Value"] == {"Ref": "Bucket"}
    assert outputs["JobsQueueUrl"]["Value"] == {"Ref": "JobsQueue"}
    assert "${Api}" in outputs["ApiUrl"]["Value"]["Fn::Sub"]
