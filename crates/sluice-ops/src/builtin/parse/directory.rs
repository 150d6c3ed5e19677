//! `parse.directory`: the DILA directories of public services (the state's
//! `dila_refOrga_admin_Etat_fr_latest.zip`, the local `all_latest.tar.bz2`, or their JSON)
//! into one row per service.
//!
//! A directory file is `{"service": [ … ]}`; the list is read one record at a time (a
//! `serde` visitor over the stream), so a file of a gigabyte never sits in memory as one
//! tree. Only `.json` entries of archives are read. Each record gives one row, not split:
//! contacts as lists of texts (`valeur. description`, `réseau (description) : valeur`…),
//! addresses, people and hierarchy as JSON, opening hours as one line per slot
//! (`Lundi à Vendredi : 08h30 à 12h00 et de 14h00 à 17h00. commentaire`), and `text`, the
//! string to embed: the name, the mission and the people in charge (not the addresses).
//! Fields may be missing, null, strings or lists, and lists may come JSON-encoded in a
//! string (as the Opendatasoft export has them). Records without `id` are skipped and
//! counted; an `id` seen twice is kept once, the first time.

use std::collections::HashSet;
use std::fmt;
use std::io::{BufRead, BufReader, Read};

use async_trait::async_trait;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;
use sluice_data::rows::{ColumnType, RowWriter, Value};

use super::Sourced as _;
use super::{base_name, for_each_input};
use crate::support::dates::french_date;
use crate::{Op, OpError, OpOutput, TaskContext, blocking};

super::file_parser!(
    /// `op: parse.directory`.
    ParseDirectory,
    "parse.directory",
    "The `fetch` task whose files to read (archives holding one JSON, or JSON files)."
);

/// The columns written.
pub const COLUMNS: &[(&str, ColumnType)] = &[
    ("doc_id", ColumnType::Text),
    ("name", ColumnType::Text),
    ("mission_description", ColumnType::Text),
    ("types", ColumnType::Text),
    ("addresses", ColumnType::Text),
    ("phone_numbers", ColumnType::Texts),
    ("mails", ColumnType::Texts),
    ("urls", ColumnType::Texts),
    ("contact_forms", ColumnType::Texts),
    ("social_medias", ColumnType::Texts),
    ("mobile_applications", ColumnType::Texts),
    ("opening_hours", ColumnType::Text),
    ("additional_information", ColumnType::Text),
    ("modification_date", ColumnType::Text),
    ("siret", ColumnType::Text),
    ("siren", ColumnType::Text),
    ("people_in_charge", ColumnType::Text),
    ("organizational_chart", ColumnType::Texts),
    ("hierarchy", ColumnType::Text),
    ("directory_url", ColumnType::Text),
    ("text", ColumnType::Text),
];

/// One service of a directory, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// `id`.
    pub id: String,
    /// `nom`.
    pub name: Option<String>,
    /// `mission`.
    pub mission: Option<String>,
    /// `pivot[].type_service_local`, `, `-joined, then ` (type_organisme)`.
    pub types: Option<String>,
    /// `adresse[]` as a JSON array of `{adresse, code_postal, commune, pays, longitude,
    /// latitude}`.
    pub addresses: String,
    /// `telephone[]`: `valeur. description`, or `valeur`.
    pub phone_numbers: Vec<String>,
    /// `adresse_courriel`.
    pub mails: Vec<String>,
    /// `site_internet[].valeur`.
    pub urls: Vec<String>,
    /// `formulaire_contact`.
    pub contact_forms: Vec<String>,
    /// `reseau_social[]`: `custom_dico2 (description) : valeur`.
    pub social_medias: Vec<String>,
    /// `application_mobile[]`: `custom_dico2 (description) : valeur`.
    pub mobile_applications: Vec<String>,
    /// `plage_ouverture`, one line per slot (see [`opening_hours`]).
    pub opening_hours: Option<String>,
    /// `information_complementaire`.
    pub additional_information: Option<String>,
    /// `date_modification` as `YYYY-MM-DD`.
    pub modification_date: Option<String>,
    /// `siret`.
    pub siret: Option<String>,
    /// `siren`.
    pub siren: Option<String>,
    /// `affectation_personne`, JSON array.
    pub people_in_charge: String,
    /// `organigramme[]`: `libelle : valeur`, or `valeur`.
    pub organizational_chart: Vec<String>,
    /// `hierarchie`, JSON array.
    pub hierarchy: String,
    /// `url_service_public`.
    pub directory_url: Option<String>,
    /// The string to embed (see [`embedded_text`]).
    pub text: String,
}

impl Service {
    /// The dataset row, in [`COLUMNS`] order.
    pub fn into_row(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.name.into(),
            self.mission.into(),
            self.types.into(),
            self.addresses.into(),
            self.phone_numbers.into(),
            self.mails.into(),
            self.urls.into(),
            self.contact_forms.into(),
            self.social_medias.into(),
            self.mobile_applications.into(),
            self.opening_hours.into(),
            self.additional_information.into(),
            self.modification_date.into(),
            self.siret.into(),
            self.siren.into(),
            self.people_in_charge.into(),
            self.organizational_chart.into(),
            self.hierarchy.into(),
            self.directory_url.into(),
            self.text.into(),
        ]
    }
}

/// A scalar as text: a string trimmed (`None` when empty), a number or a boolean written.
fn scalar(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_string),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Field `key` of an object as text; `None` when missing, null, empty or not a scalar.
pub fn str_of(v: &Json, key: &str) -> Option<String> {
    v.get(key).and_then(scalar)
}

/// Field `key` of an object as a list: a list as is, a string holding a JSON list decoded,
/// another string or an object as a list of one; empty when missing or null.
pub fn list_of(v: &Json, key: &str) -> Vec<Json> {
    match v.get(key) {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(items)) => items.clone(),
        Some(Json::String(s)) => {
            let s = s.trim();
            if s.starts_with('[')
                && let Ok(Json::Array(items)) = serde_json::from_str::<Json>(s)
            {
                items
            } else if s.is_empty() {
                Vec::new()
            } else {
                vec![Json::String(s.to_string())]
            }
        }
        Some(other) => vec![other.clone()],
    }
}

/// Field `key` of an object as an object: an object as is, a string holding a JSON object
/// decoded.
fn object_of(v: &Json, key: &str) -> Option<Json> {
    match v.get(key)? {
        Json::String(s) => serde_json::from_str::<Json>(s).ok().filter(Json::is_object),
        other => Some(other.clone()).filter(Json::is_object),
    }
}

/// The texts of a list of strings, or of objects with a `valeur` (itself a string or a
/// list); nested lists are flattened.
fn texts(items: &[Json]) -> Vec<String> {
    fn push(v: &Json, out: &mut Vec<String>) {
        match v {
            Json::Array(items) => items.iter().for_each(|i| push(i, out)),
            Json::Object(_) => {
                if let Some(inner) = v.get("valeur") {
                    push(inner, out);
                }
            }
            other => out.extend(scalar(other)),
        }
    }
    let mut out = Vec::new();
    for item in items {
        push(item, &mut out);
    }
    out
}

/// `a (b) : value`, `a : value`, `b : value` or `value`, from an item with `valeur` and two
/// optional labels; a bare string is itself. `None` without a value.
fn labelled(item: &Json, label: &str, detail: &str) -> Option<String> {
    if !item.is_object() {
        return scalar(item);
    }
    let value = str_of(item, "valeur")?;
    let head = match (str_of(item, label), str_of(item, detail)) {
        (Some(l), Some(d)) => format!("{l} ({d})"),
        (Some(l), None) => l,
        (None, Some(d)) => d,
        (None, None) => return Some(value),
    };
    Some(format!("{head} : {value}"))
}

/// A phone number: `valeur. description`, or `valeur`.
fn phone(item: &Json) -> Option<String> {
    if !item.is_object() {
        return scalar(item);
    }
    let value = str_of(item, "valeur")?;
    Some(match str_of(item, "description") {
        Some(d) => format!("{value}. {d}"),
        None => value,
    })
}

/// An entry of `organigramme`: `libelle : valeur`, or `valeur`.
fn chart(item: &Json) -> Option<String> {
    if !item.is_object() {
        return scalar(item);
    }
    match (str_of(item, "libelle"), str_of(item, "valeur")) {
        (Some(l), Some(v)) => Some(format!("{l} : {v}")),
        (l, v) => v.or(l),
    }
}

/// An entry of `adresse` as the JSON object written: the street (`complement1`,
/// `complement2`, `numero_voie`, the non-empty ones joined by spaces), `code_postal`,
/// `commune` (`nom_commune`), `pays`, `longitude`, `latitude` (empty strings when missing).
fn address(item: &Json) -> Option<Json> {
    if !item.is_object() {
        return None;
    }
    let get = |key: &str| str_of(item, key).unwrap_or_default();
    let street: Vec<String> = ["complement1", "complement2", "numero_voie"]
        .iter()
        .filter_map(|k| str_of(item, k))
        .collect();
    Some(serde_json::json!({
        "adresse": street.join(" "),
        "code_postal": get("code_postal"),
        "commune": get("nom_commune"),
        "pays": get("pays"),
        "longitude": get("longitude"),
        "latitude": get("latitude"),
    }))
}

/// The types: `pivot[].type_service_local` joined by `, `, then ` (type_organisme)`; either
/// alone when the other is missing.
pub fn types(pivot: &[Json], type_organisme: Option<&str>) -> Option<String> {
    let local: Vec<String> = pivot
        .iter()
        .filter_map(|p| {
            if p.is_object() {
                str_of(p, "type_service_local")
            } else {
                scalar(p)
            }
        })
        .collect();
    match (local.is_empty(), type_organisme) {
        (false, Some(t)) => Some(format!("{} ({t})", local.join(", "))),
        (false, None) => Some(local.join(", ")),
        (true, t) => t.map(str::to_string),
    }
}

/// A time of day `HH:MM:SS` (or `HH:MM`) as `HHhMM` (`08:30:00` → `08h30`); anything
/// else as it is.
pub fn hhmm(time: &str) -> String {
    let time = time.trim();
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    let mut parts = time.split(':');
    match (parts.next(), parts.next()) {
        (Some(h), Some(m)) if digits(h) && m.len() == 2 && digits(m) => format!("{h}h{m}"),
        _ => time.to_string(),
    }
}

/// One slot of `plage_ouverture`: `day[ à day] : HHhMM à HHhMM[ et de HHhMM à HHhMM][.
/// commentaire]`; `None` when it says nothing.
pub fn opening_slot(slot: &Json) -> Option<String> {
    let get = |key: &str| str_of(slot, key);
    let mut day = get("nom_jour_debut").unwrap_or_default();
    if let Some(last) = get("nom_jour_fin")
        && last != day
    {
        day = if day.is_empty() {
            last
        } else {
            format!("{day} à {last}")
        };
    }
    let hours: Vec<String> = [1, 2]
        .iter()
        .filter_map(|n| {
            let from = get(&format!("valeur_heure_debut_{n}"))?;
            let to = get(&format!("valeur_heure_fin_{n}"))?;
            Some(format!("{} à {}", hhmm(&from), hhmm(&to)))
        })
        .collect();
    let mut line = match (day.is_empty(), hours.is_empty()) {
        (false, false) => format!("{day} : {}", hours.join(" et de ")),
        (false, true) => day,
        (true, _) => hours.join(" et de "),
    };
    if let Some(comment) = get("commentaire") {
        line = if line.is_empty() {
            comment
        } else {
            format!("{line}. {comment}")
        };
    }
    Some(line).filter(|l| !l.is_empty())
}

/// The opening hours: one line per slot, then the general comment
/// (`commentaire_plage_ouverture`) if any; `None` when empty.
pub fn opening_hours(slots: &[Json], comment: Option<&str>) -> Option<String> {
    let mut lines: Vec<String> = slots.iter().filter_map(opening_slot).collect();
    lines.extend(comment.map(str::to_string));
    Some(lines.join("\n")).filter(|s| !s.is_empty())
}

/// A person in charge: `fonction : civilité prénom nom (grade)`, or the part that is known.
/// The person is `personne` (an object, or one JSON-encoded), or the entry itself.
pub fn person(item: &Json) -> Option<String> {
    let who = object_of(item, "personne").unwrap_or_else(|| item.clone());
    let mut name = ["civilite", "prenom", "nom"]
        .iter()
        .filter_map(|k| str_of(&who, k))
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(grade) = str_of(&who, "grade") {
        name = if name.is_empty() {
            grade
        } else {
            format!("{name} ({grade})")
        };
    }
    match (str_of(item, "fonction"), name.is_empty()) {
        (Some(f), false) => Some(format!("{f} : {name}")),
        (Some(f), true) => Some(f),
        (None, false) => Some(name),
        (None, true) => None,
    }
}

/// Joins sentences, adding a `.` after a part that does not already end one.
fn sentences(parts: &[String], separator: &str) -> String {
    let mut out = String::new();
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            if !out.ends_with(['.', '!', '?', '…']) {
                out.push('.');
            }
            out.push_str(separator);
        }
        out.push_str(part);
    }
    out
}

/// The string to embed: the name, the mission, then the people in charge one per line,
/// joined as sentences (`Nom. Mission. Fonction : M. Prénom Nom (grade).\nFonction : …`).
/// The addresses are deliberately left out.
pub fn embedded_text(name: Option<&str>, mission: Option<&str>, people: &[String]) -> String {
    let people = sentences(people, "\n");
    let parts: Vec<String> = [name, mission, Some(people.as_str())]
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect();
    sentences(&parts, " ")
}

/// Parses one record of `service`. `None`: it has no `id` (or is not an object), skipped.
pub fn parse_service(record: &Json) -> Option<Service> {
    let id = str_of(record, "id")?;
    let name = str_of(record, "nom");
    let mission = str_of(record, "mission");
    let people = list_of(record, "affectation_personne");
    let lines: Vec<String> = people.iter().filter_map(person).collect();
    let addresses: Vec<Json> = list_of(record, "adresse")
        .iter()
        .filter_map(address)
        .collect();
    Some(Service {
        types: types(
            &list_of(record, "pivot"),
            str_of(record, "type_organisme").as_deref(),
        ),
        addresses: Json::Array(addresses).to_string(),
        phone_numbers: list_of(record, "telephone")
            .iter()
            .filter_map(phone)
            .collect(),
        mails: texts(&list_of(record, "adresse_courriel")),
        urls: texts(&list_of(record, "site_internet")),
        contact_forms: texts(&list_of(record, "formulaire_contact")),
        social_medias: list_of(record, "reseau_social")
            .iter()
            .filter_map(|i| labelled(i, "custom_dico2", "description"))
            .collect(),
        mobile_applications: list_of(record, "application_mobile")
            .iter()
            .filter_map(|i| labelled(i, "custom_dico2", "description"))
            .collect(),
        opening_hours: opening_hours(
            &list_of(record, "plage_ouverture"),
            str_of(record, "commentaire_plage_ouverture").as_deref(),
        ),
        additional_information: str_of(record, "information_complementaire"),
        modification_date: str_of(record, "date_modification").and_then(|d| french_date(&d)),
        siret: str_of(record, "siret"),
        siren: str_of(record, "siren"),
        people_in_charge: Json::Array(people).to_string(),
        organizational_chart: list_of(record, "organigramme")
            .iter()
            .filter_map(chart)
            .collect(),
        hierarchy: Json::Array(list_of(record, "hierarchie")).to_string(),
        directory_url: str_of(record, "url_service_public"),
        text: embedded_text(name.as_deref(), mission.as_deref(), &lines),
        id,
        name,
        mission,
    })
}

// ---------------------------------------------------------------------------------------
// Streaming the `service` list.

type Callback<'f> = dyn FnMut(usize, Json) -> Result<(), String> + 'f;

/// The top level: `{"service": [ … ]}` (other keys skipped), or a bare list of services.
/// Its value: how many records, `None` when there was no `service` list.
struct TopLevel<'a, 'f> {
    f: &'a mut Callback<'f>,
    stop: &'a mut Option<String>,
}

impl<'de> Visitor<'de> for TopLevel<'_, '_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with a `service` list")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let TopLevel { f, stop } = self;
        let mut count = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "service" && count.is_none() {
                count = Some(map.next_value_seed(ServiceList {
                    f: &mut *f,
                    stop: &mut *stop,
                })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(count)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let TopLevel { f, stop } = self;
        ServiceList { f, stop }.visit_seq(seq).map(Some)
    }
}

/// The `service` list: each record handed to the callback as soon as it is read.
struct ServiceList<'a, 'f> {
    f: &'a mut Callback<'f>,
    stop: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for ServiceList<'_, '_> {
    type Value = usize;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ServiceList<'_, '_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of services")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let ServiceList { f, stop } = self;
        let mut n = 0;
        while let Some(record) = seq.next_element::<Json>()? {
            if let Err(e) = f(n, record) {
                *stop = Some(e);
                return Err(de::Error::custom("stopped by the caller"));
            }
            n += 1;
        }
        Ok(n)
    }
}

/// Reads a directory file from `reader`, calling `f` with the index and the value of each
/// record of its `service` list (or of a bare top-level list), one at a time. Returns how
/// many records were read, or `None` when the file is JSON without a `service` list. An
/// error of `f` stops the reading and is returned as is.
pub fn for_each_record(
    reader: impl Read,
    mut f: impl FnMut(usize, Json) -> Result<(), String>,
) -> Result<Option<usize>, String> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let head = reader.fill_buf().map_err(|e| format!("cannot read: {e}"))?;
    if head.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    let mut stop = None;
    let mut json = serde_json::Deserializer::from_reader(reader);
    let read = de::Deserializer::deserialize_any(
        &mut json,
        TopLevel {
            f: &mut f,
            stop: &mut stop,
        },
    )
    .and_then(|count| json.end().map(|()| count));
    match (read, stop) {
        (_, Some(e)) => Err(e),
        (Ok(count), None) => Ok(count),
        (Err(e), None) => Err(format!("malformed directory JSON: {e}")),
    }
}

fn is_json(name: &str) -> bool {
    base_name(name).to_ascii_lowercase().ends_with(".json")
}

#[async_trait]
impl Op for ParseDirectory {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let files = self.inputs().resolve(ctx)?;
        let limits = self.archive_limits();
        let out = ctx.output()?.clone();
        let log = ctx.log.clone();
        let cancel = ctx.cancel.clone();
        let (info, counts) = blocking(move || {
            let mut w = RowWriter::new(&out, COLUMNS);
            let mut seen: HashSet<String> = HashSet::new();
            let (mut documents, mut skipped, mut duplicates, mut lists) = (0u64, 0u64, 0u64, 0u64);
            for_each_input(&files, &limits, |file, name, reader| {
                if !is_json(name) {
                    return Ok(());
                }
                let count = for_each_record(reader, |_, record| {
                    if cancel.is_cancelled() {
                        return Err("cancelled".into());
                    }
                    let Some(service) = parse_service(&record) else {
                        skipped += 1;
                        return Ok(());
                    };
                    if !seen.insert(service.id.clone()) {
                        duplicates += 1;
                        return Ok(());
                    }
                    documents += 1;
                    w.push(service.into_row()).map_err(|e| e.to_string())
                })?;
                match count {
                    Some(_) => lists += 1,
                    None => {
                        let _ = log.line(&format!(
                            "{} ({name}): no `service` list; ignored",
                            file.display()
                        ));
                    }
                }
                Ok(())
            })?;
            if lists == 0 {
                return Err(OpError::data(
                    "no JSON file with a `service` list among the inputs (a directory is {\"service\": [ … ]})",
                ));
            }
            let info = w.finish()?;
            Ok((info, [documents, skipped, duplicates]))
        })
        .await?;
        let [documents, skipped, duplicates] = counts;
        let _ = ctx.log.line(&format!(
            "{documents} services; {skipped} without id skipped, {duplicates} duplicate ids (the first is kept)"
        ));
        let metrics = crate::counters(&[
            ("documents", documents),
            ("skipped", skipped),
            ("duplicates", duplicates),
        ]);
        Ok(OpOutput {
            dataset: Some(info.into()),
            metrics,
            ..OpOutput::default()
        })
    }

    super::sourced_methods!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_embedded_text_is_name_mission_and_people() {
        let record = json!({
            "id": "875a1618",
            "nom": "Direction générale du travail (DGT)",
            "mission": "La DGT élabore la réglementation du travail.",
            "affectation_personne": [
                {"personne": {"civilite": "M.", "prenom": "Laurent", "nom": "Castelnau", "grade": "Conseiller d'État"},
                 "fonction": "Directeur général du travail", "telephone": ""},
                {"personne": {"civilite": "Mme", "prenom": "Inès", "nom": "Boudjemaa"},
                 "fonction": "Cheffe de service"},
                {"fonction": "Secrétariat"}
            ],
            "adresse": [{"complement1": "Tour A", "complement2": "", "numero_voie": "39-43 quai André-Citroën",
                         "code_postal": "75015", "nom_commune": "Paris", "pays": "France",
                         "longitude": "2.2780", "latitude": "48.8441"}]
        });
        let s = parse_service(&record).expect("kept");
        assert_eq!(
            s.text,
            "Direction générale du travail (DGT). La DGT élabore la réglementation du travail. \
             Directeur général du travail : M. Laurent Castelnau (Conseiller d'État).\n\
             Cheffe de service : Mme Inès Boudjemaa.\nSecrétariat"
        );
        let addresses: Json = serde_json::from_str(&s.addresses).expect("json");
        assert_eq!(
            addresses,
            json!([{"adresse": "Tour A 39-43 quai André-Citroën", "code_postal": "75015",
                    "commune": "Paris", "pays": "France", "longitude": "2.2780", "latitude": "48.8441"}])
        );
        assert_eq!(embedded_text(Some("Mairie"), None, &[]), "Mairie");
        assert_eq!(
            embedded_text(Some("Mairie"), Some("Accueil !"), &[]),
            "Mairie. Accueil !"
        );
    }

    #[test]
    fn opening_hours_are_one_line_per_slot() {
        let slots = json!([
            {"nom_jour_debut": "Lundi", "nom_jour_fin": "Vendredi", "valeur_heure_debut_1": "08:30:00",
             "valeur_heure_fin_1": "12:00:00", "valeur_heure_debut_2": "14:00:00", "valeur_heure_fin_2": "17:00:00",
             "commentaire": ""},
            {"nom_jour_debut": "Samedi", "nom_jour_fin": "Samedi", "valeur_heure_debut_1": "09:00:00",
             "valeur_heure_fin_1": "11:30:00", "valeur_heure_debut_2": "", "valeur_heure_fin_2": "",
             "commentaire": "Permanence état civil uniquement."},
            {"nom_jour_debut": "Dimanche", "commentaire": "Fermé"},
            {"nom_jour_debut": "", "valeur_heure_debut_1": ""}
        ]);
        let slots = slots.as_array().expect("list");
        assert_eq!(
            opening_hours(slots, None).as_deref(),
            Some(
                "Lundi à Vendredi : 08h30 à 12h00 et de 14h00 à 17h00\n\
                 Samedi : 09h00 à 11h30. Permanence état civil uniquement.\n\
                 Dimanche. Fermé"
            )
        );
        assert_eq!(
            opening_hours(&slots[2..], Some("Fermé en août.")).as_deref(),
            Some("Dimanche. Fermé\nFermé en août.")
        );
        assert_eq!(opening_hours(&[], None), None);
        assert_eq!(hhmm("08:30:00"), "08h30");
        assert_eq!(hhmm("9:05"), "9h05");
        assert_eq!(hhmm("midi"), "midi");
    }

    #[test]
    fn contacts_types_and_dates() {
        let record = json!({
            "id": "68bcdac9",
            "nom": "Mairie - Fontaine-le-Port",
            "pivot": "[{\"type_service_local\": \"mairie\", \"code_insee_commune\": [\"77188\"]}, {\"type_service_local\": \"cias\"}]",
            "type_organisme": "Commune",
            "telephone": [{"valeur": "01 64 38 30 52", "description": ""}, {"valeur": "39 49", "description": "Demandeurs d'emploi"}, {"description": "sans numéro"}],
            "adresse_courriel": ["mairie@example.fr"],
            "site_internet": [{"libelle": "", "valeur": "http://www.ville.fr"}, {"valeur": ["https://a.fr", "https://b.fr"]}],
            "formulaire_contact": "https://contact.fr",
            "reseau_social": [{"valeur": "https://linkedin/x", "description": "Compte officiel", "custom_dico2": "LinkedIn"},
                              {"valeur": "https://x.com/y", "custom_dico2": "X"}],
            "application_mobile": [{"valeur": "https://apps/1", "description": "Rapports", "custom_dico2": "iOS"}],
            "organigramme": [{"libelle": "Organigramme", "valeur": "https://o.pdf"}, {"libelle": "", "valeur": "https://p.pdf"}],
            "hierarchie": [{"type_hierarchie": "Service Fils", "service": "abc"}],
            "date_modification": "09/08/2023 13:30:19",
            "siret": "21770188700010",
            "siren": "",
            "mission": null,
            "url_service_public": "https://lannuaire.service-public.fr/x"
        });
        let s = parse_service(&record).expect("kept");
        assert_eq!(s.types.as_deref(), Some("mairie, cias (Commune)"));
        assert_eq!(
            s.phone_numbers,
            ["01 64 38 30 52", "39 49. Demandeurs d'emploi"]
        );
        assert_eq!(s.mails, ["mairie@example.fr"]);
        assert_eq!(
            s.urls,
            ["http://www.ville.fr", "https://a.fr", "https://b.fr"]
        );
        assert_eq!(s.contact_forms, ["https://contact.fr"]);
        assert_eq!(
            s.social_medias,
            [
                "LinkedIn (Compte officiel) : https://linkedin/x",
                "X : https://x.com/y"
            ]
        );
        assert_eq!(s.mobile_applications, ["iOS (Rapports) : https://apps/1"]);
        assert_eq!(
            s.organizational_chart,
            ["Organigramme : https://o.pdf", "https://p.pdf"]
        );
        assert_eq!(s.modification_date.as_deref(), Some("2023-08-09"));
        assert_eq!(
            (s.siret.as_deref(), s.siren.as_deref(), s.mission.as_deref()),
            (Some("21770188700010"), None, None)
        );
        assert_eq!(s.addresses, "[]");
        assert_eq!(s.people_in_charge, "[]");
        assert_eq!(
            serde_json::from_str::<Json>(&s.hierarchy).expect("json"),
            json!([{"type_hierarchie": "Service Fils", "service": "abc"}])
        );
        assert_eq!(s.opening_hours, None);
        assert_eq!(s.text, "Mairie - Fontaine-le-Port");
        assert_eq!(s.clone().into_row().len(), COLUMNS.len());

        assert_eq!(
            types(&[], Some("Administration centrale")).as_deref(),
            Some("Administration centrale")
        );
        assert_eq!(
            types(&[json!({"type_service_local": "caf"})], None).as_deref(),
            Some("caf")
        );
        assert_eq!(types(&[], None), None);
        assert_eq!(parse_service(&json!({"nom": "sans id"})), None);
        assert_eq!(parse_service(&json!(["pas un objet"])), None);
    }

    #[test]
    fn the_service_list_is_streamed_one_record_at_a_time() {
        let file = br#"{"meta": {"service": 1}, "service": [{"id": "a"}, {"id": "b", "nom": "B"}], "after": [1, 2]}"#;
        let mut ids = Vec::new();
        let count = for_each_record(&file[..], |i, r| {
            ids.push((i, str_of(&r, "id")));
            Ok(())
        });
        assert_eq!(count, Ok(Some(2)));
        assert_eq!(
            ids,
            [(0, Some("a".to_string())), (1, Some("b".to_string()))]
        );

        // A bare list, after a byte order mark.
        let bare = b"\xEF\xBB\xBF[{\"id\": \"x\"}]";
        assert_eq!(for_each_record(&bare[..], |_, _| Ok(())), Ok(Some(1)));
        // JSON without a service list.
        assert_eq!(
            for_each_record(&b"{\"other\": []}"[..], |_, _| Ok(())),
            Ok(None)
        );
        // The caller's error stops the reading and comes back as is.
        let stopped = for_each_record(
            &file[..],
            |i, _| if i == 1 { Err("full".into()) } else { Ok(()) },
        );
        assert_eq!(stopped, Err("full".to_string()));
        // Malformed JSON and trailing garbage are errors.
        let broken = for_each_record(&b"{\"service\": [{\"id\": }]}"[..], |_, _| Ok(()));
        assert!(broken.is_err_and(|e| e.starts_with("malformed directory JSON")));
        assert!(for_each_record(&b"{\"service\": []} x"[..], |_, _| Ok(())).is_err());
    }

    #[test]
    fn lists_may_be_json_in_a_string() {
        let r = json!({"a": "[1, 2]", "b": "texte", "c": null, "d": {"k": 1}, "e": "  "});
        assert_eq!(list_of(&r, "a"), [json!(1), json!(2)]);
        assert_eq!(list_of(&r, "b"), [json!("texte")]);
        assert!(list_of(&r, "c").is_empty());
        assert!(list_of(&r, "missing").is_empty());
        assert_eq!(list_of(&r, "d"), [json!({"k": 1})]);
        assert!(list_of(&r, "e").is_empty());
        assert_eq!(
            str_of(&json!({"n": 12, "s": " x "}), "n").as_deref(),
            Some("12")
        );
        assert_eq!(
            str_of(&json!({"n": 12, "s": " x "}), "s").as_deref(),
            Some("x")
        );
    }
}
