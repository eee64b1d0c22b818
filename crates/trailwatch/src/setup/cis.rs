//! A file's `[cis]` table made into what it stands for: the CIS pack's log group, topic,
//! filters and alarms, for the controls that neither the endpoint nor the file's own filters
//! meet.

use cis::judge::{self, Judgement};
use config::plan::Current;
use config::{Parsed, Step};

/// `parsed` with its `[cis]` table replaced by the pack's items, given what the endpoint has;
/// `parsed` itself when it has none.
pub fn with_pack(
    parsed: &Parsed,
    current: &Current,
    region: &str,
) -> Result<Parsed, config::Error> {
    let Some(table) = &parsed.file.cis else {
        return Ok(parsed.clone());
    };
    let at = |key: &str| [Step::Key("cis".into()), Step::Key(key.into())];
    let catalogue = cis::Catalogue::get();
    let version = table.cis_version.as_deref().unwrap_or(cis::LATEST);
    let Some(benchmark) = catalogue.benchmark(version) else {
        return Err(parsed.error_at(
            &at("cis_version"),
            format!(
                "no CIS version {version}; the versions are {}",
                catalogue.versions().join(", ")
            ),
        ));
    };
    let style = match table.style.as_deref() {
        None | Some("literal") => cis::remedy::Style::Literal,
        Some("tight") => cis::remedy::Style::Tight,
        Some(other) => {
            return Err(parsed.error_at(
                &at("style"),
                format!("style {other:?} is neither \"literal\" nor \"tight\""),
            ));
        }
    };
    let request = cis::remedy::Request {
        log_group: table
            .log_group_name
            .clone()
            .unwrap_or_else(|| crate::serve::CIS_LOG_GROUP.to_owned()),
        topic: table
            .topic
            .clone()
            .unwrap_or_else(|| crate::serve::CIS_TOPIC.to_owned()),
        subscribe: None,
        style,
        region: region.to_owned(),
    };
    let pack = cis::remedy::remedy(&benchmark, &request, current)
        .map_err(|e| parsed.error_at(&[Step::Key("cis".into())], e))?;
    let mut file = parsed.file.clone();
    file.cis = None;
    // Controls the file's own filters on the log group meet are the file's to alarm on.
    let own: Vec<String> = file
        .metric_filters
        .iter()
        .filter(|f| f.log_group_name == request.log_group)
        .map(|f| f.filter_pattern.clone())
        .collect();
    let met_by_file = |control: &cis::Control<'_>| {
        let judgements: Vec<Judgement> = own.iter().map(|p| Judgement::of(control, p)).collect();
        !judgements.is_empty()
            && judge::missing(control, &judgements.iter().collect::<Vec<_>>()).is_empty()
    };
    // What the pack brings that the file does not name would be the file's to prune (the
    // filters of its log groups, the subscriptions of its topics, the alarms of its
    // namespaces): what the endpoint already has there is declared as it is, so `--prune`
    // removes nothing of others' and a second run changes nothing.
    if !file
        .log_groups
        .iter()
        .any(|g| g.log_group_name == request.log_group)
    {
        file.log_groups.extend(pack.file.log_groups.iter().cloned());
        for have in current
            .file
            .metric_filters
            .iter()
            .filter(|m| m.log_group_name == request.log_group)
            .filter(|m| !m.filter_name.starts_with("cis-"))
        {
            if !file.metric_filters.iter().any(|m| {
                m.log_group_name == have.log_group_name && m.filter_name == have.filter_name
            }) {
                file.metric_filters.push(have.clone());
            }
        }
    }
    if !file.topics.iter().any(|t| t.name == request.topic) {
        let have = current.file.topics.iter().find(|t| t.name == request.topic);
        file.topics
            .extend(have.or(pack.file.topics.first()).cloned());
    }
    let namespace_was_the_files = file
        .alarms
        .iter()
        .any(|a| a.namespace == cis::remedy::NAMESPACE);
    for control in &benchmark.controls {
        let name = cis::remedy::name_of(control);
        // The pack's own filter, once made, stays declared; a control the pack need not meet
        // (the endpoint or the file meets it) gets nothing.
        let made = current
            .file
            .metric_filters
            .iter()
            .any(|m| m.log_group_name == request.log_group && m.filter_name == name);
        if !(made || pack.added.iter().any(|id| id == control.id())) || met_by_file(control) {
            continue;
        }
        let (f, a) = cis::remedy::items(benchmark.version, control, &request);
        if !file
            .metric_filters
            .iter()
            .any(|m| m.log_group_name == f.log_group_name && m.filter_name == name)
        {
            file.metric_filters.push(f);
        }
        if !file.alarms.iter().any(|m| m.alarm_name == name) {
            file.alarms.push(a);
        }
    }
    if !namespace_was_the_files {
        for have in current
            .file
            .alarms
            .iter()
            .filter(|a| a.namespace == cis::remedy::NAMESPACE)
        {
            if !file.alarms.iter().any(|a| a.alarm_name == have.alarm_name) {
                file.alarms.push(have.clone());
            }
        }
    }
    Ok(parsed.with_file(file))
}
