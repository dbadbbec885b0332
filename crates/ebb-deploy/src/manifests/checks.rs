//! Cross-checks of the rendered objects against the service and each other. Each failure
//! names the object, the field and the fix.

use ebb_core::names::{
    ENV_RATELIMIT_KEY, ENV_RATELIMIT_RATE, ENV_SHUTDOWN_DELAY as ENV_DELAY, ENV_SHUTDOWN_TIMEOUT as ENV_TIMEOUT,
    ENV_TRUSTED_PROXIES, LIVEZ_PATH, READYZ_PATH, STARTUPZ_PATH,
};
use serde_json::Value;

use super::render::{File, METRICS_PORT, env_duration, grace_seconds};
use crate::egress::DNS_PORT;
use crate::service::{GRACE_MARGIN, Service};

pub(crate) fn check(service: &Service, files: &[File]) -> Vec<String> {
    let mut problems = Vec::new();
    let object = |kind: &str| files.iter().map(|f| &f.object).find(|o| o["kind"] == kind);
    let Some(deployment) = object("Deployment") else {
        return vec![format!("{}: no Deployment rendered", service.name)];
    };
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let ports: Vec<&str> =
        container["ports"].as_array().into_iter().flatten().filter_map(|p| p["name"].as_str()).collect();

    for (field, path) in
        [("startupProbe", STARTUPZ_PATH), ("livenessProbe", LIVEZ_PATH), ("readinessProbe", READYZ_PATH)]
    {
        let probe = &container[field]["httpGet"];
        if probe["path"] != path {
            problems.push(format!(
                "Deployment/{}: {field}.httpGet.path is {}, the service answers {path}",
                service.name, probe["path"]
            ));
        }
        if let Some(port) = probe["port"].as_str().filter(|port| !ports.contains(port)) {
            problems.push(format!(
                "Deployment/{}: {field}.httpGet.port `{port}` is no container port (have {ports:?})",
                service.name
            ));
        }
    }
    problems.extend(probes_off_the_app_port(service, container));
    problems.extend(pre_stop_sleep(service, container));
    let config_maps: Vec<&Value> = files.iter().map(|f| &f.object).filter(|o| o["kind"] == "ConfigMap").collect();
    for (variable, duration) in [(ENV_DELAY, service.shutdown_delay), (ENV_TIMEOUT, service.shutdown_timeout)] {
        problems.extend(shutdown_variable(service, container, &config_maps, variable, &env_duration(duration)));
    }
    problems.extend(grace_period(service, pod));
    problems.extend(unbounded_empty_dirs(service, pod));
    problems.extend(image_tag(service, container));
    match object("NetworkPolicy") {
        Some(policy) => problems.extend(egress(service, policy)),
        None => problems.push(format!("{}: no NetworkPolicy rendered", service.name)),
    }
    if let Some(kube_service) = object("Service") {
        for port in kube_service["spec"]["ports"].as_array().into_iter().flatten() {
            if let Some(target) = port["targetPort"].as_str().filter(|target| !ports.contains(target)) {
                problems.push(format!("Service/{}: targetPort `{target}` is no container port", service.name));
            }
        }
    }
    if let Some(hpa) = object("HorizontalPodAutoscaler") {
        if hpa["spec"]["scaleTargetRef"]["name"] != service.name {
            problems.push(format!(
                "HorizontalPodAutoscaler/{}: scaleTargetRef.name must be {}",
                service.name, service.name
            ));
        }
        let pods_metrics = hpa["spec"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["pods"]["metric"]["name"].as_str());
        for metric in pods_metrics {
            if metric != service.custom_metric {
                problems.push(format!(
                    "HorizontalPodAutoscaler/{}: scales on `{metric}`, but the adapter serves `{}` (from {})",
                    service.name, service.custom_metric, service.request_counter
                ));
            }
        }
    }
    if object("ServiceMonitor").is_some_and(|monitor| monitor["spec"]["endpoints"][0]["port"] != METRICS_PORT)
        || !ports.contains(&METRICS_PORT)
    {
        problems
            .push(format!("ServiceMonitor/{}: must scrape the container port named `{METRICS_PORT}`", service.name));
    }
    problems
}

/// Startup and liveness probes must reach the metrics listener: on the application port, a
/// full connection or in-flight cap (an attack, a burst) fails them and the kubelet restarts
/// a healthy pod, which only makes the overload worse.
fn probes_off_the_app_port(service: &Service, container: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for field in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let port = &container[field]["httpGet"]["port"];
        if container_port(container, port) != Some(u64::from(service.metrics_port)) {
            problems.push(format!(
                "Deployment/{}: {field}.httpGet.port is {port}, must be `{METRICS_PORT}` ({}): on the application port a full connection or in-flight cap, or the per-client share of probes, fails a healthy pod",
                service.name, service.metrics_port
            ));
        }
    }
    problems
}

/// The image must name the code it runs: untagged or `latest`, a re-applied base pulls
/// whatever was pushed last. A digest pins it as well as a tag.
fn image_tag(service: &Service, container: &Value) -> Option<String> {
    let image = container["image"].as_str().unwrap_or_default();
    let field = format!("Deployment/{}: spec.template.spec.containers[0].image {image:?}", service.name);
    if image.contains("@sha256:") {
        return None;
    }
    // A colon after the last slash starts the tag; one before it is a registry's port.
    let tag = image.rsplit('/').next().and_then(|last| last.split_once(':')).map(|(_, tag)| tag);
    match tag {
        None | Some("") => {
            Some(format!("{field} has no tag; tag it with the crate version ({})", service.image_reference()))
        }
        Some("latest") => {
            Some(format!("{field} uses `latest`; tag it with the crate version ({})", service.image_reference()))
        }
        Some(_) => None,
    }
}

/// The number a probe's port (a name or a number) resolves to in the container.
fn container_port(container: &Value, port: &Value) -> Option<u64> {
    match port {
        Value::String(name) => container["ports"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == name.as_str())
            .and_then(|p| p["containerPort"].as_u64()),
        other => other.as_u64(),
    }
}

/// A preStop sleep keeps SIGTERM from the service for its length: no `Connection: close`
/// while the endpoints drop the pod, then an abrupt close. `EBB_SHUTDOWN_DELAY` does the delay.
fn pre_stop_sleep(service: &Service, container: &Value) -> Option<String> {
    let pre_stop = &container["lifecycle"]["preStop"];
    let exec_sleeps = pre_stop["exec"]["command"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|word| word.split_whitespace().any(|w| w == "sleep" || w.ends_with("/sleep")));
    let field = if !pre_stop["sleep"].is_null() {
        "lifecycle.preStop.sleep"
    } else if exec_sleeps {
        "lifecycle.preStop.exec"
    } else {
        return None;
    };
    Some(format!(
        "Deployment/{}: {field} sleeps before SIGTERM reaches the service (no `Connection: close` meanwhile); delete it, {ENV_DELAY} does the delay",
        service.name
    ))
}

/// A shutdown variable must reach the container with the definition's value: missing, the
/// service uses its default; `0s` for the delay closes the listener before the endpoints
/// have dropped the pod.
fn shutdown_variable(
    service: &Service,
    container: &Value,
    config_maps: &[&Value],
    variable: &str,
    expected: &str,
) -> Option<String> {
    let Some((source, value)) = env_value(service, container, config_maps, variable) else {
        return Some(format!(
            "Deployment/{}: {variable} is set neither in env nor in a ConfigMap of envFrom; set it to {expected} (the service's definition)",
            service.name
        ));
    };
    (value.as_str() != Some(expected)).then(|| format!("{source} is {value}, the service's definition says {expected}"))
}

/// Where the container gets `variable` from, as `Kind/name: field`, and its value: its own
/// `env` wins over `envFrom`, and a later `envFrom` source over an earlier one.
fn env_value<'a>(
    service: &Service,
    container: &'a Value,
    config_maps: &[&'a Value],
    variable: &str,
) -> Option<(String, &'a Value)> {
    let env = container["env"].as_array().into_iter().flatten();
    if let Some(entry) = env.rev().find(|e| e["name"] == variable) {
        return Some((format!("Deployment/{}: env {variable}", service.name), &entry["value"]));
    }
    let sources = container["envFrom"].as_array().into_iter().flatten().rev();
    sources.filter_map(|source| source["configMapRef"]["name"].as_str()).find_map(|name| {
        let config_map = config_maps.iter().find(|c| c["metadata"]["name"] == name)?;
        let value = config_map["data"].get(variable)?;
        Some((format!("ConfigMap/{name}: data.{variable}"), value))
    })
}

/// The kubelet's SIGKILL must not come before the service's deadline: the grace period
/// covers the delay, the timeout and the margin.
fn grace_period(service: &Service, pod: &Value) -> Option<String> {
    let grace = pod["terminationGracePeriodSeconds"].as_i64().unwrap_or(KUBERNETES_DEFAULT_GRACE);
    let needed = grace_seconds(service);
    (grace < needed).then(|| {
        format!(
            "Deployment/{}: terminationGracePeriodSeconds {grace} is shorter than {ENV_DELAY} ({}) + {ENV_TIMEOUT} ({}) + margin ({}) = {needed}s; raise it",
            service.name,
            env_duration(service.shutdown_delay),
            env_duration(service.shutdown_timeout),
            env_duration(GRACE_MARGIN)
        )
    })
}

/// An emptyDir without `sizeLimit` may fill the node's disk (the root is read-only, so
/// everything written lands there); with it, the kubelet evicts the pod instead.
fn unbounded_empty_dirs(service: &Service, pod: &Value) -> Vec<String> {
    let volumes = pod["volumes"].as_array().into_iter().flatten();
    volumes
        .filter(|volume| volume["emptyDir"].is_object() && volume["emptyDir"]["sizeLimit"].is_null())
        .map(|volume| {
            format!(
                "Deployment/{}: emptyDir volume `{}` has no sizeLimit: a pod that fills it fills the node's disk (`Resources::with_tmp_size_limit`)",
                service.name,
                volume["name"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

/// The pod may connect only where its definition says: the policy governs egress, admits
/// DNS and every declared dependency's port, and has no rule that admits everything. A
/// service that reads Redis (`REDIS_URL`, `REDIS_CLUSTER_URLS`, `REDIS_SENTINEL_URLS`) must declare it.
fn egress(service: &Service, policy: &Value) -> Vec<String> {
    let name = format!("NetworkPolicy/{}", service.name);
    let spec = &policy["spec"];
    if !spec["policyTypes"].as_array().into_iter().flatten().any(|t| t == "Egress") {
        return vec![format!(
            "{name}: policyTypes has no `Egress`: the pod may connect anywhere; render egress rules (DNS and the definition's `with_egress`)"
        )];
    }
    let rules: Vec<&Value> = spec["egress"].as_array().into_iter().flatten().collect();
    let admits = |port: u16, protocol: &str| {
        rules.iter().any(|rule| {
            rule["ports"].as_array().into_iter().flatten().any(|p| {
                p["port"].as_u64() == Some(u64::from(port)) && p["protocol"].as_str().unwrap_or("TCP") == protocol
            })
        })
    };
    let mut problems = Vec::new();
    if rules.iter().any(|rule| rule["ports"].as_array().is_none_or(Vec::is_empty) && rule["to"].is_null()) {
        problems.push(format!("{name}: an egress rule without ports or peers admits every connection"));
    }
    if !admits(DNS_PORT, "UDP") {
        problems.push(format!("{name}: no egress rule admits DNS ({DNS_PORT}/UDP): the pod cannot resolve a name"));
    }
    for egress in &service.egress {
        if !admits(egress.port, "TCP") {
            problems.push(format!("{name}: no egress rule admits {} ({}/TCP)", egress.name, egress.port));
        }
    }
    if let (Some(topology), false) =
        (service.redis_topology(), service.egress.iter().any(|e| e.name == crate::egress::REDIS))
    {
        problems.push(format!(
            "service `{}` reads {} but declares no egress to Redis: add `with_egress(Egress::redis())`",
            service.name,
            topology.variable()
        ));
    }
    problems
}

/// What is not wrong for certain, but usually is: a limit keyed by client IP without
/// trusted proxies keys every client behind an ingress as the ingress (one client's
/// failed logins lock everyone out). `manifests` prints these and goes on.
pub(crate) fn warnings(service: &Service) -> Vec<String> {
    let rate = service.variable(ENV_RATELIMIT_RATE);
    let limited = rate.is_some_and(|rate| rate.is_none_or(|rate| !rate.trim().eq_ignore_ascii_case("off")));
    let by_ip = service.variable(ENV_RATELIMIT_KEY).is_none_or(|key| key.is_some_and(|key| key.trim() == "ip"));
    let proxies = service.variable(ENV_TRUSTED_PROXIES).is_some_and(|p| p.is_none_or(|p| !p.trim().is_empty()));
    if limited && by_ip && !proxies {
        return vec![format!(
            "service `{}`: {ENV_RATELIMIT_RATE} keys clients by IP but {ENV_TRUSTED_PROXIES} is not set: behind an ingress every client is the ingress and shares one limit; set `with_trusted_proxies` to the ingress controller's pod CIDR",
            service.name
        )];
    }
    Vec::new()
}

/// What Kubernetes uses when `terminationGracePeriodSeconds` is not set.
const KUBERNETES_DEFAULT_GRACE: i64 = 30;

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::manifests::render;
    use crate::service as definition;

    fn rendered() -> (Service, Vec<File>) {
        let service = definition::examples().remove(0);
        let files = render::render(&service, &Default::default()).expect("render");
        (service, files)
    }

    fn object<'a>(files: &'a mut [File], kind: &str) -> &'a mut Value {
        &mut files.iter_mut().find(|f| f.object["kind"] == kind).expect(kind).object
    }

    fn deployment(files: &mut [File]) -> &mut Value {
        object(files, "Deployment")
    }

    fn container(files: &mut [File]) -> &mut Value {
        &mut deployment(files)["spec"]["template"]["spec"]["containers"][0]
    }

    /// Renders, breaks one thing with `edit`, and asserts that the check names it.
    fn assert_named(edit: impl FnOnce(&mut [File]), needle: &str) {
        let (service, mut files) = rendered();
        edit(&mut files);
        let problems = check(&service, &files).join("\n");
        assert!(problems.contains(needle), "{needle} missing in:\n{problems}");
    }

    #[test]
    fn the_rendered_objects_pass() {
        for service in definition::examples() {
            let files = render::render(&service, &Default::default()).expect("render");
            assert_eq!(check(&service, &files), Vec::<String>::new(), "{}", service.name);
        }
    }

    #[test]
    fn each_break_is_named_with_its_fix() {
        let (service, mut files) = rendered();
        let pod = &mut deployment(&mut files)["spec"]["template"]["spec"];
        pod["terminationGracePeriodSeconds"] = 30.into();
        pod["containers"][0]["readinessProbe"]["httpGet"]["port"] = "web".into();
        pod["containers"][0]["livenessProbe"]["httpGet"]["path"] = "/health".into();
        let problems = check(&service, &files).join("\n");
        for needle in
            ["terminationGracePeriodSeconds 30", "readinessProbe.httpGet.port `web`", "livenessProbe.httpGet.path"]
        {
            assert!(problems.contains(needle), "{needle} missing in:\n{problems}");
        }
    }

    #[test]
    fn an_untagged_or_latest_image_is_refused() {
        let field = "Deployment/example-api: spec.template.spec.containers[0].image";
        for image in ["ebb/example-api", "registry.local:5000/ebb/example-api"] {
            assert_named(|files| container(files)["image"] = image.into(), &format!("{field} \"{image}\" has no tag"));
        }
        assert_named(
            |files| container(files)["image"] = "ebb/example-api:latest".into(),
            &format!("{field} \"ebb/example-api:latest\" uses `latest`"),
        );
    }

    #[test]
    fn the_image_is_tagged_with_its_package_version() {
        let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let project = crate::Project::at(&workspace, &[crate::Service::new("example-api")]).expect("this workspace");
        let mut files = render::render(&project.services()[0], &Default::default()).expect("renders");
        // example-api inherits the workspace's version, as ebb-deploy does.
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(container(&mut files)["image"], format!("example-api:{version}").as_str());
        for pinned in ["r.local:5000/ebb/example-api:0.1.0", "ebb/example-api@sha256:0123"] {
            let (service, mut files) = rendered();
            container(&mut files)["image"] = pinned.into();
            assert_eq!(check(&service, &files), Vec::<String>::new(), "{pinned}");
        }
    }

    #[test]
    fn a_pre_stop_sleep_is_refused() {
        assert_named(
            |files| container(files)["lifecycle"] = json!({ "preStop": { "sleep": { "seconds": 5 } } }),
            "Deployment/example-api: lifecycle.preStop.sleep",
        );
        assert_named(
            |files| {
                container(files)["lifecycle"] =
                    json!({ "preStop": { "exec": { "command": ["/bin/sh", "-c", "sleep 5"] } } });
            },
            "Deployment/example-api: lifecycle.preStop.exec",
        );
    }

    #[test]
    fn a_zero_delay_is_refused() {
        assert_named(
            |files| object(files, "ConfigMap")["data"]["EBB_SHUTDOWN_DELAY"] = "0s".into(),
            "ConfigMap/example-api-env: data.EBB_SHUTDOWN_DELAY is \"0s\", the service's definition says 5s",
        );
    }

    #[test]
    fn a_zero_delay_in_the_container_env_wins_and_is_refused() {
        assert_named(
            |files| {
                let env = container(files)["env"].as_array_mut().expect("env");
                env.push(json!({ "name": "EBB_SHUTDOWN_DELAY", "value": "0s" }));
            },
            "Deployment/example-api: env EBB_SHUTDOWN_DELAY is \"0s\"",
        );
    }

    #[test]
    fn a_missing_delay_or_timeout_is_refused() {
        for variable in ["EBB_SHUTDOWN_DELAY", "EBB_SHUTDOWN_TIMEOUT"] {
            assert_named(
                |files| {
                    object(files, "ConfigMap")["data"].as_object_mut().expect("data").remove(variable);
                },
                &format!("Deployment/example-api: {variable} is set neither in env nor in a ConfigMap"),
            );
        }
    }

    #[test]
    fn a_grace_period_without_the_margin_is_refused() {
        assert_named(
            |files| deployment(files)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 39.into(),
            "Deployment/example-api: terminationGracePeriodSeconds 39 is shorter than EBB_SHUTDOWN_DELAY (5s) + EBB_SHUTDOWN_TIMEOUT (30s) + margin (5s) = 40s",
        );
    }

    #[test]
    fn liveness_and_startup_on_the_app_port_are_refused() {
        for field in ["livenessProbe", "startupProbe"] {
            assert_named(
                |files| container(files)[field]["httpGet"]["port"] = "http".into(),
                &format!("Deployment/example-api: {field}.httpGet.port is \"http\", must be `metrics` (9090)"),
            );
            assert_named(
                |files| container(files)[field]["httpGet"]["port"] = 8080.into(),
                &format!("Deployment/example-api: {field}.httpGet.port is 8080"),
            );
        }
    }

    #[test]
    fn an_unbounded_tmp_is_refused() {
        // The old rendering: an emptyDir without sizeLimit.
        assert_named(
            |files| {
                let volume = &mut deployment(files)["spec"]["template"]["spec"]["volumes"][0];
                volume["emptyDir"] = json!({});
            },
            "Deployment/example-api: emptyDir volume `tmp` has no sizeLimit",
        );
    }

    #[test]
    fn a_policy_without_egress_or_with_a_missing_port_is_refused() {
        // The old rendering: ingress rules only.
        assert_named(
            |files| {
                let spec = &mut object(files, "NetworkPolicy")["spec"];
                spec["policyTypes"] = json!(["Ingress"]);
                spec.as_object_mut().expect("spec").remove("egress");
            },
            "NetworkPolicy/example-api: policyTypes has no `Egress`",
        );
        let remove_port = |port: u64| {
            move |files: &mut [File]| {
                let rules = object(files, "NetworkPolicy")["spec"]["egress"].as_array_mut().expect("egress");
                rules.retain(|rule| rule["ports"][0]["port"] != port);
            }
        };
        assert_named(remove_port(53), "NetworkPolicy/example-api: no egress rule admits DNS (53/UDP)");
        assert_named(remove_port(6379), "NetworkPolicy/example-api: no egress rule admits redis (6379/TCP)");
        assert_named(remove_port(443), "NetworkPolicy/example-api: no egress rule admits object store (443/TCP)");
        assert_named(remove_port(4318), "NetworkPolicy/example-api: no egress rule admits otlp (4318/TCP)");
        assert_named(
            |files| object(files, "NetworkPolicy")["spec"]["egress"].as_array_mut().expect("egress").push(json!({})),
            "an egress rule without ports or peers admits every connection",
        );
    }

    #[test]
    fn redis_without_its_egress_is_refused() {
        let mut service = definition::examples().remove(1);
        service.egress.clear();
        let files = render::render(&service, &Default::default()).expect("render");
        let problems = check(&service, &files).join("\n");
        assert!(
            problems.contains("service `example-worker` reads REDIS_URL but declares no egress to Redis"),
            "{problems}"
        );
    }

    #[test]
    fn egress_cidrs_are_rendered_as_ip_blocks() {
        let service = crate::Service::new("api")
            .with_tag("1.0.0")
            .with_egress(crate::Egress::redis().with_cidrs(&["10.0.3.0/24", "2001:db8::/64"]))
            .with_egress(crate::Egress::object_store());
        let files = render::render(&service, &Default::default()).expect("render");
        let policy = &files.iter().find(|f| f.object["kind"] == "NetworkPolicy").expect("policy").object;
        let rules = &policy["spec"]["egress"];
        assert_eq!(rules[0]["ports"], json!([{ "port": 53, "protocol": "UDP" }, { "port": 53, "protocol": "TCP" }]));
        assert_eq!(
            rules[1]["to"],
            json!([{ "ipBlock": { "cidr": "10.0.3.0/24" } }, { "ipBlock": { "cidr": "2001:db8::/64" } }])
        );
        assert!(rules[2]["to"].is_null(), "no CIDRs: the port to any address");
        assert_eq!(rules[2]["ports"][0]["port"], 443);
        assert_eq!(check(&service, &files), Vec::<String>::new());
    }

    #[test]
    fn an_ip_keyed_limit_without_trusted_proxies_warns() {
        // The old definition: a rate, keyed by IP (the default), no trusted proxies.
        let old = crate::Service::new("api").with_env("EBB_RATELIMIT_RATE", "100/1s");
        let warnings = super::warnings(&old).join("\n");
        assert!(
            warnings.contains(
                "service `api`: EBB_RATELIMIT_RATE keys clients by IP but EBB_RATELIMIT_TRUSTED_PROXIES is not set"
            ),
            "{warnings}"
        );
        assert_eq!(super::warnings(&old.clone().with_env("EBB_RATELIMIT_KEY", "ip")).len(), 1);
        // With trusted proxies, keyed by a header, or no limit: nothing to say.
        assert!(super::warnings(&old.clone().with_trusted_proxies("10.0.0.0/8")).is_empty());
        assert!(super::warnings(&old.clone().with_env("EBB_RATELIMIT_KEY", "header:x-api-key")).is_empty());
        assert!(super::warnings(&crate::Service::new("api").with_env("EBB_RATELIMIT_RATE", "off")).is_empty());
        assert!(super::warnings(&crate::Service::new("api")).is_empty());
        for service in definition::examples() {
            assert!(super::warnings(&service).is_empty(), "{}", service.name);
        }
    }

    #[test]
    fn liveness_on_the_metrics_port_by_number_passes() {
        let (service, mut files) = rendered();
        container(&mut files)["livenessProbe"]["httpGet"]["port"] = 9090.into();
        assert_eq!(check(&service, &files), Vec::<String>::new());
    }
}
