//! The built-in fleet: a web shop of fourteen services, in the spirit of the
//! OpenTelemetry demo, used by `epicenter demo`, the tests and the scenarios.
//!
//! ```text
//! user ─▶ frontend ─┬─▶ auth ──────────────▶ session-redis
//!                   ├─▶ catalog ───────────▶ catalog-postgres, session-redis (cache)
//!                   ├─▶ currency
//!                   ├─▶ ad (soft)
//!                   ├─▶ recommendation (soft) ─▶ catalog
//!                   ├─▶ cart ──────────────▶ cart-redis
//!                   └─▶ checkout ─┬─▶ cart, catalog, currency, inventory ─▶ orders-postgres
//!                                 ├─▶ fraud-check ─▶ orders-postgres
//!                                 ├─▶ payment ─────▶ payment-provider (external), orders-postgres
//!                                 ├─▶ shipping (HTTP) ─▶ orders-postgres
//!                                 ├─▶ email (HTTP, soft) ─▶ email-provider (external)
//!                                 └─▶ kafka `orders` ─▶ accounting (span links) ─▶ orders-postgres
//! ```
//!
//! `currency` and `ad` emit deprecated semantic-convention names (old SDKs).
//!
//! Never does: I/O, randomness.

use super::fleet_parts::{PRODUCTION, db, entry, ext, grpc, http, publish, svc, to};
use super::topology::{
    Consumer, Database, ExternalPeer, Latency, LinkMode, Operation, Protocol, Topic, Topology,
};

const CATALOG: &str = "shop.ProductCatalogService";
const CURRENCY: &str = "shop.CurrencyService";
const CART: &str = "shop.CartService";

impl Topology {
    /// The built-in shop: 14 services with 2–4 instances each in
    /// `production`, two PostgreSQL and two Redis databases, the Kafka topic
    /// `orders` consumed by `accounting` through span links, and two
    /// external SaaS peers (`payment-provider`, `email-provider`).
    pub fn default_fleet() -> Self {
        let currency = format!("{CURRENCY}/Convert");
        let list_products = format!("{CATALOG}/ListProducts");
        let get_product = format!("{CATALOG}/GetProduct");
        let get_cart = format!("{CART}/GetCart");
        let services = vec![
            svc(
                "frontend",
                3,
                "2.4.1",
                "@opentelemetry/instrumentation-http",
                vec![
                    entry(
                        http(
                            "GET",
                            "/",
                            4.0,
                            0.0005,
                            vec![
                                to("catalog", &list_products),
                                to("ad", "shop.AdService/GetAds")
                                    .soft()
                                    .with_probability(0.7),
                            ],
                        ),
                        0.25,
                    ),
                    entry(
                        http(
                            "GET",
                            "/api/products",
                            3.0,
                            0.0005,
                            vec![
                                to("catalog", &list_products),
                                to("currency", &currency).with_fanout(1, 3),
                            ],
                        ),
                        0.2,
                    ),
                    entry(
                        http(
                            "GET",
                            "/api/products/{id}",
                            3.0,
                            0.0005,
                            vec![
                                to("catalog", &get_product),
                                to("currency", &currency),
                                to(
                                    "recommendation",
                                    "shop.RecommendationService/ListRecommendations",
                                )
                                .soft()
                                .with_probability(0.8),
                                to("ad", "shop.AdService/GetAds")
                                    .soft()
                                    .with_probability(0.5),
                            ],
                        ),
                        0.25,
                    ),
                    entry(
                        http(
                            "GET",
                            "/api/cart",
                            2.0,
                            0.0005,
                            vec![
                                to("auth", "shop.AuthService/ValidateToken"),
                                to("cart", &get_cart),
                                to("currency", &currency).with_fanout(1, 2),
                            ],
                        ),
                        0.12,
                    ),
                    entry(
                        http(
                            "POST",
                            "/api/cart",
                            2.5,
                            0.0005,
                            vec![
                                to("auth", "shop.AuthService/ValidateToken"),
                                to("cart", "shop.CartService/AddItem"),
                            ],
                        ),
                        0.1,
                    ),
                    entry(
                        http(
                            "POST",
                            "/api/checkout",
                            5.0,
                            0.0005,
                            vec![
                                to("auth", "shop.AuthService/ValidateToken"),
                                to("checkout", "shop.CheckoutService/PlaceOrder"),
                            ],
                        ),
                        0.08,
                    ),
                ],
            ),
            svc(
                "auth",
                2,
                "3.1.0",
                "io.opentelemetry.grpc-1.6",
                vec![grpc(
                    "shop.AuthService",
                    "ValidateToken",
                    1.2,
                    0.0002,
                    vec![db("session-redis", "GET", "session")],
                )],
            ),
            svc(
                "catalog",
                3,
                "1.8.2",
                "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc",
                vec![
                    grpc(
                        CATALOG,
                        "ListProducts",
                        2.0,
                        0.0005,
                        vec![db("catalog-postgres", "SELECT", "products")],
                    ),
                    grpc(
                        CATALOG,
                        "GetProduct",
                        1.0,
                        0.0005,
                        vec![
                            db("session-redis", "GET", "product"),
                            db("catalog-postgres", "SELECT", "products").with_probability(0.3),
                        ],
                    ),
                ],
            ),
            svc(
                "currency",
                2,
                "1.2.0",
                "opentelemetry-cpp",
                vec![grpc(CURRENCY, "Convert", 0.4, 0.0002, vec![])],
            ),
            svc(
                "ad",
                2,
                "1.0.7",
                "io.opentelemetry.grpc-1.6",
                vec![grpc("shop.AdService", "GetAds", 3.0, 0.001, vec![])],
            ),
            svc(
                "recommendation",
                2,
                "0.9.3",
                "opentelemetry.instrumentation.grpc",
                vec![grpc(
                    "shop.RecommendationService",
                    "ListRecommendations",
                    6.0,
                    0.001,
                    vec![to("catalog", &list_products)],
                )],
            ),
            svc(
                "cart",
                3,
                "1.6.0",
                "OpenTelemetry.Instrumentation.AspNetCore",
                vec![
                    grpc(
                        CART,
                        "GetCart",
                        0.8,
                        0.0003,
                        vec![db("cart-redis", "HGETALL", "cart")],
                    ),
                    grpc(
                        CART,
                        "AddItem",
                        1.0,
                        0.0003,
                        vec![db("cart-redis", "HSET", "cart")],
                    ),
                    grpc(
                        CART,
                        "EmptyCart",
                        0.8,
                        0.0003,
                        vec![db("cart-redis", "DEL", "cart")],
                    ),
                ],
            ),
            svc(
                "checkout",
                3,
                "1.4.0",
                "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc",
                vec![grpc(
                    "shop.CheckoutService",
                    "PlaceOrder",
                    4.0,
                    0.001,
                    vec![
                        to("cart", &get_cart),
                        to("catalog", &get_product).with_fanout(1, 4),
                        to("currency", &currency).with_fanout(1, 3),
                        to("inventory", "shop.InventoryService/Reserve"),
                        to("fraud-check", "shop.FraudService/Assess"),
                        to("shipping", "POST /get-quote"),
                        to("payment", "shop.PaymentService/Charge"),
                        to("shipping", "POST /ship-order"),
                        to("cart", "shop.CartService/EmptyCart").soft(),
                        to("email", "POST /send_order_confirmation").soft(),
                        publish("orders"),
                    ],
                )],
            ),
            svc(
                "payment",
                2,
                "1.4.0",
                "@opentelemetry/instrumentation-grpc",
                vec![grpc(
                    "shop.PaymentService",
                    "Charge",
                    3.0,
                    0.002,
                    vec![
                        ext("payment-provider", "POST", "/v1/charges"),
                        db("orders-postgres", "INSERT", "payments"),
                    ],
                )],
            ),
            svc(
                "shipping",
                2,
                "1.1.4",
                "opentelemetry-instrumentation-actix-web",
                vec![
                    http("POST", "/get-quote", 1.5, 0.0005, vec![]),
                    http(
                        "POST",
                        "/ship-order",
                        2.5,
                        0.001,
                        vec![db("orders-postgres", "INSERT", "shipments")],
                    ),
                ],
            ),
            svc(
                "fraud-check",
                2,
                "2.0.3",
                "opentelemetry.instrumentation.grpc",
                vec![grpc(
                    "shop.FraudService",
                    "Assess",
                    8.0,
                    0.001,
                    vec![db("orders-postgres", "SELECT", "customer_risk")],
                )],
            ),
            svc(
                "inventory",
                3,
                "1.3.2",
                "io.opentelemetry.grpc-1.6",
                vec![grpc(
                    "shop.InventoryService",
                    "Reserve",
                    2.0,
                    0.001,
                    vec![db("orders-postgres", "UPDATE", "stock")],
                )],
            ),
            svc(
                "email",
                2,
                "0.7.1",
                "opentelemetry-instrumentation-rack",
                vec![http(
                    "POST",
                    "/send_order_confirmation",
                    5.0,
                    0.002,
                    vec![ext("email-provider", "POST", "/v3/mail/send")],
                )],
            ),
            svc(
                "accounting",
                2,
                "1.0.2",
                "OpenTelemetry.Instrumentation.ConfluentKafka",
                vec![Operation {
                    name: "process orders".to_owned(),
                    protocol: Protocol::Consume {
                        topic: "orders".to_owned(),
                    },
                    latency: Latency::new(3.0, 0.5),
                    error_ratio: 0.0005,
                    calls: vec![db("orders-postgres", "INSERT", "ledger_entries")],
                    entry_weight: 0.0,
                }],
            ),
        ];
        let pg = |name: &str, namespace: &str| Database {
            name: name.to_owned(),
            system: "postgresql".to_owned(),
            address: name.to_owned(),
            port: 5432,
            namespace: namespace.to_owned(),
            latency: Latency::new(1.5, 0.6),
            error_ratio: 0.0001,
        };
        let redis = |name: &str| Database {
            name: name.to_owned(),
            system: "redis".to_owned(),
            address: name.to_owned(),
            port: 6379,
            namespace: "0".to_owned(),
            latency: Latency::new(0.3, 0.4),
            error_ratio: 0.00005,
        };
        let mut topology = Self {
            services,
            databases: vec![
                pg("catalog-postgres", "catalog"),
                pg("orders-postgres", "orders"),
                redis("cart-redis"),
                redis("session-redis"),
            ],
            topics: vec![Topic {
                name: "orders".to_owned(),
                system: "kafka".to_owned(),
                address: "kafka".to_owned(),
                consumers: vec![Consumer {
                    service: "accounting".to_owned(),
                    operation: "process orders".to_owned(),
                    group: "accounting".to_owned(),
                }],
                link_mode: LinkMode::Link,
                queue_delay: Latency::new(15.0, 0.8),
                partitions: 6,
            }],
            externals: vec![
                ExternalPeer {
                    name: "payment-provider".to_owned(),
                    address: "api.payments.example".to_owned(),
                    latency: Latency::new(120.0, 0.35),
                    error_ratio: 0.001,
                },
                ExternalPeer {
                    name: "email-provider".to_owned(),
                    address: "smtp-api.mail.example".to_owned(),
                    latency: Latency::new(40.0, 0.4),
                    error_ratio: 0.001,
                },
            ],
            environments: vec![(PRODUCTION.to_owned(), 1.0)],
            diurnal: None,
        };
        topology = topology.with_deprecated_semconv(&["currency", "ad"]);
        topology
    }
}
