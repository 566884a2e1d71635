#!/usr/bin/env python3
"""Three small instrumented services calling each other over real HTTP.

frontend -> checkout -> payment, each with its own TracerProvider (its own
service.name), W3C trace context propagated in HTTP headers with the
OpenTelemetry propagation API, spans exported with the OpenTelemetry SDK's
OTLP exporter (HTTP/protobuf or gRPC) to the endpoint given on the command
line. Every request is one trace: a root SERVER span in frontend (the user's
request), a CLIENT span to checkout, checkout's SERVER span, its CLIENT span
to payment, and payment's SERVER span. checkout and payment are real HTTP
servers on 127.0.0.1; frontend only calls out.

Exits 0 after every provider flushed successfully; non-zero on any failure.
Used by tests/it/otel_sdk.rs.
"""

import argparse
import signal
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode


def exporter(protocol, endpoint, compression):
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(
            endpoint=endpoint.rstrip("/") + "/v1/traces",
            compression=Compression.Gzip if compression == "gzip" else Compression.NoCompression,
            timeout=10,
        )
    from grpc import Compression
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(
        endpoint=endpoint,
        insecure=True,
        compression=Compression.Gzip if compression == "gzip" else Compression.NoCompression,
        timeout=10,
    )


class Service:
    """One service: a tracer provider, an HTTP server, and an optional downstream."""

    def __init__(self, name, version, args, downstream=None):
        self.name = name
        self.provider = TracerProvider(
            resource=Resource.create(
                {
                    "service.name": name,
                    "service.version": version,
                    "service.namespace": "shop",
                    "deployment.environment.name": "test",
                }
            )
        )
        self.provider.add_span_processor(
            BatchSpanProcessor(exporter(args.protocol, args.endpoint, args.compression))
        )
        self.tracer = self.provider.get_tracer("three_services")
        self.downstream = downstream
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                # Continue the caller's trace from the W3C traceparent header
                # (header names are case-insensitive; the default getter is not).
                carrier = {key.lower(): value for key, value in self.headers.items()}
                context = propagate.extract(carrier)
                route = self.path
                with service.tracer.start_as_current_span(
                    "GET " + route,
                    context=context,
                    kind=SpanKind.SERVER,
                    attributes={"http.request.method": "GET", "http.route": route},
                ) as span:
                    status = 200
                    if service.downstream is not None:
                        status = service.call(service.downstream, "/" + service.downstream.name)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def call(self, other, path):
        """A CLIENT span around a real HTTP call, with the context injected."""
        with self.tracer.start_as_current_span(
            "GET",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": "GET",
                "server.address": "127.0.0.1",
                "server.port": other.port,
                "url.full": f"http://127.0.0.1:{other.port}{path}",
            },
        ) as span:
            headers = {}
            propagate.inject(headers)
            request = urllib.request.Request(f"http://127.0.0.1:{other.port}{path}", headers=headers)
            with urllib.request.urlopen(request, timeout=10) as response:
                status = response.status
            span.set_attribute("http.response.status_code", status)
            return status

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        flushed = self.provider.force_flush(timeout_millis=20_000)
        self.provider.shutdown()
        return flushed


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--protocol", choices=["http", "grpc"], required=True)
    parser.add_argument(
        "--endpoint",
        required=True,
        help="http://HOST:PORT (OTLP/HTTP base URL) or HOST:PORT (OTLP/gRPC)",
    )
    parser.add_argument("--compression", choices=["none", "gzip"], default="none")
    parser.add_argument("--requests", type=int, default=5)
    args = parser.parse_args()

    # Never hang a test run: give up after a minute.
    signal.signal(signal.SIGALRM, lambda *_: sys.exit("timed out"))
    signal.alarm(60)

    payment = Service("payment", "1.4.0", args)
    checkout = Service("checkout", "2.5.0", args, downstream=payment)
    frontend = Service("frontend", "2.4.1", args)
    try:
        for _ in range(args.requests):
            # A user request arriving at frontend: the root SERVER span of the trace.
            with frontend.tracer.start_as_current_span(
                "GET /",
                kind=SpanKind.SERVER,
                attributes={"http.request.method": "GET", "http.route": "/"},
            ):
                status = frontend.call(checkout, "/checkout")
            if status != 200:
                sys.exit(f"request failed with {status}")
    finally:
        flushed = [service.close() for service in (frontend, checkout, payment)]
    if not all(flushed):
        sys.exit("a tracer provider failed to flush")
    print(f"sent {args.requests} traces over {args.protocol}", file=sys.stderr)


if __name__ == "__main__":
    main()
