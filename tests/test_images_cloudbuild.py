"""The Cloud Build builder, driving the real google-cloud-build REST client against a fake
Cloud Build server, with build contexts and logs in the gcp-storage-emulator."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest

pytest.importorskip("google.cloud.devtools.cloudbuild_v1",
                    reason="google-cloud-build is not installed (pip install "
                           "'kinetic-launcher[test]')")
pytest.importorskip("google.cloud.storage", reason="google-cloud-storage is not installed")
pytest.importorskip("gcp_storage_emulator", reason="gcp-storage-emulator is not installed "
                                                   "(pip install gcp-storage-emulator)")

from gcp_storage_emulator.server import create_server  # noqa: E402
from google.api_core.future.polling import DEFAULT_POLLING  # noqa: E402
from google.auth.credentials import AnonymousCredentials  # noqa: E402
from google.cloud import storage  # noqa: E402
from google.cloud.devtools import cloudbuild_v1  # noqa: E402

from docker_fixtures import kinetic_cache  # noqa: E402,F401 (pytest fixture)
from fake_cloudbuild import FakeCloudBuild, Outcome  # noqa: E402
from kinetic.errors import BuildError  # noqa: E402
from kinetic.images import BuildOptions  # noqa: E402
from kinetic.images.cloudbuild import CloudBuildBuilder  # noqa: E402
from kinetic.images.context import create_context  # noqa: E402
from kinetic.images.distribution import locate_kinetic  # noqa: E402
from kinetic.images.requirements import resolve_requirements  # noqa: E402

PROJECT = "kinetic-test-project"
CONTEXT_BUCKET = "kinetic-test-contexts"
IMAGE = "us-docker.pkg.dev/kinetic-test-project/kinetic/app:0123456789abcdef0123"


@pytest.fixture
def storage_client():
    server = create_server("127.0.0.1", 0, in_memory=True, default_bucket=CONTEXT_BUCKET)
    server.start()
    try:
        port = server._api._httpd.server_address[1]
        yield storage.Client(project=PROJECT, credentials=AnonymousCredentials(),
                             client_options={"api_endpoint": f"http://127.0.0.1:{port}"})
    finally:
        server.stop()


@pytest.fixture
def fake(storage_client):
    server = FakeCloudBuild(storage_client).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def builder(fake, storage_client, kinetic_cache):  # noqa: F811 (pytest fixture)
    client = cloudbuild_v1.CloudBuildClient(
        transport="rest", credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.endpoint})
    return CloudBuildBuilder(PROJECT, bucket=CONTEXT_BUCKET, client=client,
                             storage_client=storage_client, poll_interval_s=0.0,
                             timeout_s=900)


@pytest.fixture
def context(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / ".env").write_text("TOKEN=do-not-upload\n")
    folder = tmp_path / "context"
    folder.mkdir()
    return create_context(
        folder, family="cpu", from_image="python:3.11-slim", python_version="3.11",
        requirements=resolve_requirements(None, ["six==1.16.0"]),
        distribution=locate_kinetic(), options=BuildOptions(), labels={"kinetic.managed": "true"},
    )


def test_success_returns_digest(builder, fake, context):
    built = builder.build(context, IMAGE, options=BuildOptions())
    assert built.reference == IMAGE
    assert built.digest and built.digest.startswith("sha256:")
    assert builder.builds == 1
    request = fake.requests[0]
    assert request["images"] == [IMAGE]
    assert request["steps"][0]["name"] == "gcr.io/cloud-builders/docker"
    assert request["steps"][0]["args"] == ["build", "--network=cloudbuild", "-t", IMAGE, "."]
    assert request["timeout"] == "900s"


def test_uploaded_context_holds_only_build_files(builder, fake, context, storage_client):
    builder.build(context, IMAGE, options=BuildOptions())
    source = fake.requests[0]["source"]["storageSource"]
    assert source["bucket"] == CONTEXT_BUCKET
    data = storage_client.bucket(CONTEXT_BUCKET).blob(source["object"]).download_as_bytes()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as archive:
        names = sorted(archive.getnames())
    assert "Dockerfile" in names
    assert "requirements.txt" in names
    assert [name for name in names if name.startswith("kinetic/")]
    assert ".env" not in names


def test_network_mode_passed_to_docker_build(builder, fake, context):
    builder.build(context, IMAGE, options=BuildOptions(network_mode="host"))
    assert "--network=host" in fake.requests[0]["steps"][0]["args"]


def test_log_streamed_to_build_log(builder, fake, context, kinetic_cache):  # noqa: F811
    builder.build(context, IMAGE, options=BuildOptions())
    log = (kinetic_cache / "build-logs" / f"{IMAGE.rsplit(':', 1)[1]}.log").read_text()
    lines = log.splitlines()
    assert lines[:2] == ["FETCHSOURCE", "BUILD"]
    assert "Step 1/3 : FROM python:3.11-slim" in lines
    assert lines.count("Step 2/3 : COPY . /kinetic-build/") == 1
    assert lines[-1] == "DONE"


def test_failure_reports_failing_step_log(builder, fake, context):
    detail = ('Build step failure: build step 0 "gcr.io/cloud-builders/docker" failed: step '
              'exited with non-zero status: 1')
    fake.script(Outcome(
        status="FAILURE", failing_step=0, status_detail=detail,
        step_logs=[["Step 3/7 : RUN pip install -r requirements.txt",
                    "ERROR: No matching distribution found for six==99"]],
    ))
    with pytest.raises(BuildError) as caught:
        builder.build(context, IMAGE, options=BuildOptions())
    message = str(caught.value)
    assert "failed at step #0 (gcr.io/cloud-builders/docker)" in message
    assert "non-zero status: 1" in message
    assert "ERROR: No matching distribution found for six==99" in message
    assert "Step #0" not in message.split("Last build output:")[1]


def test_failure_shows_only_failing_step(builder, fake, context, storage_client):
    fake.script(Outcome(status="FAILURE", failing_step=1, step_logs=[
        ["first step output"], ["second step output", "second step error"]]))
    original = builder._create

    def create_with_two_steps(request):
        request.steps.append(cloudbuild_v1.BuildStep(name="gcr.io/cloud-builders/docker",
                                                     id="push", args=["push", IMAGE]))
        return original(request)

    builder._create = create_with_two_steps
    with pytest.raises(BuildError) as caught:
        builder.build(context, IMAGE, options=BuildOptions())
    output = str(caught.value).split("Last build output:")[1]
    assert "second step error" in output
    assert "first step output" not in output


def test_timeout_reported(builder, fake, context):
    fake.script(Outcome(status="TIMEOUT", failing_step=None,
                        step_logs=[["Step 3/7 : RUN pip install -r requirements.txt",
                                    "Collecting six==1.16.0"]]))
    with pytest.raises(BuildError) as caught:
        builder.build(context, IMAGE, options=BuildOptions())
    message = str(caught.value)
    assert "timed out after 900 s" in message
    assert "raise the builder's timeout_s" in message
    assert "Collecting six==1.16.0" in message


def test_missing_source_rejected(fake, storage_client, context, kinetic_cache):  # noqa: F811
    client = cloudbuild_v1.CloudBuildClient(
        transport="rest", credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.endpoint})
    builder = CloudBuildBuilder(PROJECT, upload=lambda data, name: f"gs://{CONTEXT_BUCKET}/lost",
                                client=client, storage_client=storage_client,
                                poll_interval_s=0.0)
    with pytest.raises(BuildError, match="Cloud Build rejected the build"):
        builder.build(context, IMAGE, options=BuildOptions())


def test_upload_callable_used(fake, storage_client, context, kinetic_cache):  # noqa: F811
    uploaded = []

    def upload(data: bytes, name: str) -> str:
        storage_client.bucket(CONTEXT_BUCKET).blob(f"custom/{name}").upload_from_string(data)
        uploaded.append(name)
        return f"gs://{CONTEXT_BUCKET}/custom/{name}"

    client = cloudbuild_v1.CloudBuildClient(
        transport="rest", credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.endpoint})
    builder = CloudBuildBuilder(PROJECT, upload=upload, client=client,
                                storage_client=storage_client, poll_interval_s=0.0)
    builder.build(context, IMAGE, options=BuildOptions())
    assert len(uploaded) == 1
    assert fake.requests[0]["source"]["storageSource"]["object"] == f"custom/{uploaded[0]}"


def test_operation_result_polls_until_done(fake, context, storage_client):
    """The fake's operations endpoint serves what the client's Operation.result() polls."""
    client = cloudbuild_v1.CloudBuildClient(
        transport="rest", credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.endpoint})
    data = context.tar(compress=True)
    storage_client.bucket(CONTEXT_BUCKET).blob("direct.tar.gz").upload_from_string(data)
    operation = client.create_build(project_id=PROJECT, build=cloudbuild_v1.Build(
        source=cloudbuild_v1.Source(storage_source=cloudbuild_v1.StorageSource(
            bucket=CONTEXT_BUCKET, object_="direct.tar.gz")),
        steps=[cloudbuild_v1.BuildStep(name="gcr.io/cloud-builders/docker",
                                       args=["build", "."])],
        images=[IMAGE],
    ))
    polling = DEFAULT_POLLING.with_delay(initial=0.0, maximum=0.01).with_timeout(30)
    build = operation.result(polling=polling)
    assert build.status == cloudbuild_v1.Build.Status.SUCCESS
    assert build.results.images[0].name == IMAGE


def test_builder_needs_bucket_or_upload():
    with pytest.raises(BuildError, match="bucket"):
        CloudBuildBuilder(PROJECT)
