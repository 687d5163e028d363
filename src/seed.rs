//! `crm-api seed`: a realistic, deterministic demo account for frontend teams and the
//! benchmark. Rows are generated from one seeded RNG and written in multi-row batches;
//! seeding writes no audit entries.

use std::time::Instant;

use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::access::{OfficePermission, Privilege, Privileges, Role};
use crate::account::model::{encode_list, AccountRow, AccountSettings};
use crate::contacts::model::ContactRow;
use crate::db::schema::{
    accounts, actions, contact_tags, contacts, deals, office_memberships, offices, organizations, users,
};
use crate::db::{insert_batch, DbConnection};
use crate::deals::model::DealRow;
use crate::organizations::model::OrgRow;
use crate::users::model::UserRow;

#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    /// Contacts to create.
    #[arg(long, default_value_t = 1000)]
    pub contacts: usize,
    /// Users besides the owner (2 admins, ~10% focused, the rest role user).
    #[arg(long, default_value_t = 20)]
    pub users: usize,
    #[arg(long, default_value_t = 5)]
    pub offices: usize,
    /// RNG seed: the same seed gives the same data (and the same logins).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The account's default_contact_access.
    #[arg(long, default_value = "limited")]
    pub default_access: String,
}

pub const DEMO_PASSWORD: &str = "demo-password";

/// One seeded login, printed at the end.
pub struct Login {
    pub role: Role,
    pub email: String,
    pub user_id: String,
}

pub struct Seeded {
    pub account_id: String,
    pub logins: Vec<Login>,
}

/// Deterministic time-ordered ids: UUIDv7 from a fixed clock and the seeded RNG.
struct Ids {
    rng: StdRng,
    millis: u64,
}

impl Ids {
    fn next(&mut self) -> String {
        self.millis += 1;
        let random: [u8; 10] = self.rng.random();
        uuid::Builder::from_unix_timestamp_millis(self.millis, &random).into_uuid().to_string()
    }
}

const FIRST: &[&str] = &[
    "Ada", "Ben", "Chloé", "Dmitri", "Eva", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kemal", "Lena", "Mateo",
    "Nora", "Olu", "Priya",
];
const LAST: &[&str] = &[
    "Nakamura", "Okafor", "Schmidt", "García", "Novak", "Dubois", "Rossi", "Kowalski", "Silva", "Berg", "Haddad",
    "Moreau", "Lind", "Costa", "Weber", "Ivanova",
];

pub fn run(conn: &mut DbConnection, args: &SeedArgs) -> Result<Seeded, String> {
    let started = Instant::now();
    let default_access = crate::access::DefaultContactAccess::parse(&args.default_access)
        .ok_or("--default-access must be hidden, limited, view or edit")?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut ids = Ids { rng: StdRng::seed_from_u64(args.seed ^ 0x5eed), millis: 1_767_225_600_000 };
    let domain = format!("seed-{}.demo", args.seed);
    let owner_email = format!("owner@{domain}");
    // Re-seeding the same seed replaces the earlier demo account.
    let existing: Option<String> = users::table
        .filter(users::email_lower.eq(&owner_email))
        .select(users::account_id)
        .first(conn)
        .optional()
        .map_err(|e| e.to_string())?;
    if let Some(account) = existing {
        eprintln!("seed: replacing the earlier demo account {account}");
        diesel::delete(accounts::table.filter(accounts::id.eq(account))).execute(conn).map_err(|e| e.to_string())?;
    }
    let result: Result<Seeded, diesel::result::Error> = (|| {
        let base = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default().naive_utc();
        let settings = AccountSettings { default_contact_access: default_access, ..AccountSettings::default() };
        let account_id = ids.next();
        diesel::insert_into(accounts::table)
            .values(&AccountRow {
                id: account_id.clone(),
                name: format!("Demo {}", args.seed),
                default_contact_access: default_access.as_str().into(),
                contact_statuses: encode_list(&settings.contact_statuses),
                lead_sources: encode_list(&settings.lead_sources),
                deal_stages: encode_list(&settings.deal_stages),
                call_results: encode_list(&settings.call_results),
                version: 1,
                created_at: base,
                updated_at: base,
            })
            .execute(conn)?;
        let hash = crate::auth::password::hash(DEMO_PASSWORD)
            .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))?;
        let mut user_rows = Vec::new();
        let mut logins = Vec::new();
        for i in 0..=args.users {
            let role = match i {
                0 => Role::Owner,
                1 | 2 => Role::Admin,
                _ if i % 10 == 3 => Role::Focused,
                _ => Role::User,
            };
            let email = if i == 0 { owner_email.clone() } else { format!("{}{i}@{domain}", role.as_str()) };
            let mut privileges = Privileges::default();
            if role == Role::User {
                for p in [Privilege::Export, Privilege::DownloadVcard, Privilege::ViewPipeline] {
                    if rng.random_bool(0.5) {
                        privileges = privileges.with(p);
                    }
                }
            }
            let id = ids.next();
            if logins.iter().all(|l: &Login| l.role != role) {
                logins.push(Login { role, email: email.clone(), user_id: id.clone() });
            }
            user_rows.push(UserRow {
                id,
                account_id: account_id.clone(),
                email_lower: email.to_lowercase(),
                email,
                password_hash: hash.clone(),
                first_name: FIRST[i % FIRST.len()].into(),
                last_name: LAST[(i / FIRST.len()) % LAST.len()].into(),
                role: role.as_str().into(),
                privileges: privileges.0,
                active: true,
                version: 1,
                created_at: base,
                updated_at: base,
            });
        }
        insert_batch!(conn, users::table, &user_rows)?;
        let office_ids: Vec<String> = (0..args.offices).map(|_| ids.next()).collect();
        let office_rows: Vec<_> = office_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                (
                    offices::id.eq(id.clone()),
                    offices::account_id.eq(account_id.clone()),
                    offices::name.eq(format!("Office {}", i + 1)),
                    offices::version.eq(1i64),
                    offices::created_at.eq(base),
                    offices::updated_at.eq(base),
                )
            })
            .collect();
        insert_batch!(conn, offices::table, &office_rows)?;
        // Each user of role `user` works in one or two offices.
        let mut memberships = Vec::new();
        for u in user_rows.iter().filter(|u| u.role == "user") {
            let first = rng.random_range(0..office_ids.len().max(1));
            let picks = if office_ids.len() > 1 && rng.random_bool(0.4) {
                vec![first, (first + 1) % office_ids.len()]
            } else {
                vec![first]
            };
            for o in picks.into_iter().filter(|o| *o < office_ids.len()) {
                let permission = [OfficePermission::View, OfficePermission::Edit, OfficePermission::Manage]
                    [rng.random_range(0..3usize)];
                memberships.push((
                    office_memberships::user_id.eq(u.id.clone()),
                    office_memberships::office_id.eq(office_ids[o].clone()),
                    office_memberships::account_id.eq(account_id.clone()),
                    office_memberships::level.eq(permission.level()),
                ));
            }
        }
        insert_batch!(conn, office_memberships::table, &memberships)?;
        let org_count = (args.contacts / 20).max(1);
        let org_rows: Vec<OrgRow> = (0..org_count)
            .map(|i| OrgRow {
                id: ids.next(),
                account_id: account_id.clone(),
                name: format!("{} {}", LAST[i % LAST.len()], ["GmbH", "Ltd", "SA", "Inc", "AB"][i % 5]),
                website: None,
                phone: None,
                address: None,
                version: 1,
                created_at: base,
                updated_at: base,
                custom_fields: "{}".into(),
            })
            .collect();
        insert_batch!(conn, organizations::table, &org_rows)?;
        let statuses = &settings.contact_statuses;
        let sources = &settings.lead_sources;
        let mut made = 0;
        let mut deal_count = 0;
        while made < args.contacts {
            let n = (args.contacts - made).min(20_000);
            let mut rows = Vec::with_capacity(n);
            let mut tags = Vec::new();
            for k in 0..n {
                let i = made + k;
                let owner = if rng.random_bool(0.9) {
                    Some(user_rows[rng.random_range(0..user_rows.len())].id.clone())
                } else {
                    None
                };
                let office = if !office_ids.is_empty() && rng.random_bool(0.8) {
                    Some(office_ids[rng.random_range(0..office_ids.len())].clone())
                } else {
                    None
                };
                let (first, last) = (FIRST[rng.random_range(0..FIRST.len())], LAST[rng.random_range(0..LAST.len())]);
                let at = base + chrono::Duration::seconds(i as i64);
                let mut row = ContactRow {
                    id: ids.next(),
                    account_id: account_id.clone(),
                    first_name: first.into(),
                    last_name: last.into(),
                    email: Some(format!("{}.{}.{i}@example.test", first.to_lowercase(), last.to_lowercase())),
                    phone: Some(format!("+49 30 {:07}", i)),
                    job_title: None,
                    organization_id: rng
                        .random_bool(0.6)
                        .then(|| org_rows[rng.random_range(0..org_rows.len())].id.clone()),
                    status: Some(statuses[rng.random_range(0..statuses.len())].clone()),
                    lead_source: Some(sources[rng.random_range(0..sources.len())].clone()),
                    owner_id: owner.clone(),
                    office_id: office,
                    private: owner.is_some() && rng.random_bool(0.05),
                    search_text: String::new(),
                    version: 1,
                    created_at: at,
                    updated_at: at,
                    tags: "[]".into(),
                    custom_fields: "{}".into(),
                };
                row.search_text = row.compute_search_text();
                if rng.random_bool(0.2) {
                    let tag = ["vip", "newsletter", "partner"][rng.random_range(0..3usize)];
                    row.tags = ContactRow::encode_tags(&[tag.to_owned()]);
                    tags.push((
                        contact_tags::contact_id.eq(row.id.clone()),
                        contact_tags::account_id.eq(account_id.clone()),
                        contact_tags::tag.eq(tag),
                    ));
                }
                rows.push(row);
            }
            insert_batch!(conn, contacts::table, &rows)?;
            insert_batch!(conn, contact_tags::table, &tags)?;
            // A deal on one contact in five, an action on one in ten.
            let with_deal: Vec<&ContactRow> = rows.iter().filter(|_| rng.random_bool(0.2)).collect();
            let deal_rows: Vec<DealRow> = with_deal
                .into_iter()
                .map(|c| DealRow {
                    id: ids.next(),
                    account_id: account_id.clone(),
                    contact_id: c.id.clone(),
                    organization_id: c.organization_id.clone(),
                    name: format!("Deal for {}", c.last_name),
                    amount: rng.random_range(1_000..1_000_000),
                    currency: ["EUR", "USD"][rng.random_range(0..2usize)].into(),
                    stage: settings.deal_stages[rng.random_range(0..settings.deal_stages.len())].clone(),
                    status: "pending".into(),
                    expected_close_date: None,
                    owner_id: c.owner_id.clone(),
                    version: 1,
                    created_at: c.created_at,
                    updated_at: c.created_at,
                    custom_fields: "{}".into(),
                })
                .collect();
            deal_count += deal_rows.len();
            insert_batch!(conn, deals::table, &deal_rows)?;
            let with_action: Vec<&ContactRow> =
                rows.iter().filter(|c| c.owner_id.is_some() && rng.random_bool(0.1)).collect();
            let action_rows: Vec<_> = with_action
                .into_iter()
                .map(|c| {
                    (
                        actions::id.eq(ids.next()),
                        actions::account_id.eq(account_id.clone()),
                        actions::contact_id.eq(c.id.clone()),
                        actions::assignee_id.eq(c.owner_id.clone()),
                        actions::text.eq("Follow up"),
                        actions::status.eq("open"),
                        actions::version.eq(1i64),
                        actions::created_at.eq(c.created_at),
                        actions::updated_at.eq(c.created_at),
                    )
                })
                .collect();
            insert_batch!(conn, actions::table, &action_rows)?;
            made += n;
            eprintln!(
                "seed: {made}/{} contacts, {deal_count} deals ({:.1}s)",
                args.contacts,
                started.elapsed().as_secs_f64()
            );
        }
        Ok(Seeded { account_id, logins })
    })();
    let seeded = result.map_err(|e| format!("seeding failed: {e}"))?;
    if let DbConnection::Pg(c) = conn {
        diesel::sql_query("ANALYZE").execute(c).map_err(|e| e.to_string())?;
    }
    eprintln!("seed: done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(seeded)
}
