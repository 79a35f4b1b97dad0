//! `warden backup FILE` and `warden restore FILE` for the embedded database. PostgreSQL is
//! backed up with `pg_dump`; both commands say so when the store is PostgreSQL.

use std::path::Path;

use anyhow::{bail, Context};
use warden_server::config::Config;
use warden_store::{Backend, BackupError, Inspection, SqlStore};

/// The configured SQLite file, or the PostgreSQL refusal.
fn database_file(config: &Config, verb: &str) -> anyhow::Result<std::path::PathBuf> {
    let url = config.effective_database_url();
    if Backend::from_url(&url)? == Backend::Postgres {
        return Err(BackupError::Postgres.into());
    }
    Backend::sqlite_file(&url)
        .with_context(|| format!("the configured SQLite database is not a file; nothing to {verb}"))
}

fn size(path: &Path) -> String {
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    #[expect(clippy::cast_precision_loss, reason = "a size shown to a person")]
    let mib = bytes as f64 / 1_048_576.0;
    format!("{mib:.1} MiB")
}

fn print_tables(inspection: &Inspection) {
    let width = inspection
        .tables
        .iter()
        .map(|t| t.table.len())
        .max()
        .unwrap_or(0);
    for table in &inspection.tables {
        println!("  {:<width$}  {:>10}", table.table, table.rows);
    }
}

/// `warden backup FILE`: a consistent copy taken while Warden may be serving.
pub async fn backup(config: &Config, file: &Path) -> anyhow::Result<()> {
    let database = database_file(config, "back up")?;
    if !database.is_file() {
        bail!(
            "there is no database at `{}` (WARDEN_DATA_DIR is `{}`): nothing to back up",
            database.display(),
            config.data_dir.display()
        );
    }
    let store = SqlStore::connect(&config.effective_database_url(), 1).await?;
    let inspection = store.backup_into(file).await;
    store.close().await;
    let inspection = inspection?;
    println!(
        "backed up `{}` to `{}` ({}, schema version {}), checked; rows per table:",
        database.display(),
        file.display(),
        size(file),
        inspection.schema_version
    );
    print_tables(&inspection);
    println!(
        "the master key is not in the backup: keep `{}` (or WARDEN_MASTER_KEY) safe, apart from it; the restored signing keys open only with it",
        config.data_dir.join("master.key").display()
    );
    Ok(())
}

/// `warden restore FILE`: into the configured data directory, which must hold no database,
/// after checking the file and that the master key opens it; then migrates it and verifies
/// the audit chain.
pub async fn restore(config: &Config, file: &Path) -> anyhow::Result<()> {
    let database = database_file(config, "restore into")?;
    if database.exists() {
        bail!(
            "`{}` already holds a database: restore into an empty data directory (set WARDEN_DATA_DIR), never over a live one",
            database.display()
        );
    }
    // Nothing gets the database's name before the copy is migrated to this build's schema,
    // its master key opens it and its audit chain verifies. A file that is not a Warden
    // database is told so first.
    warden_store::inspect(file).await?;
    let Some(master) = warden_server::existing_master_key(config)? else {
        bail!(
            "no master key: put the backed-up installation's master.key at `{}` (mode 0600) or set WARDEN_MASTER_KEY, then restore",
            config.data_dir.join("master.key").display()
        );
    };
    let staged = warden_store::stage(file, &database).await?;
    let copy = SqlStore::connect(&warden_store::Backend::sqlite_url(staged.path()), 1).await?;
    let checked = async {
        copy.migrate().await?;
        check_source(&copy, &master, file).await
    }
    .await;
    copy.close().await;
    let audited = checked?;
    let inspection = staged.inspection.clone();
    staged.publish()?;
    println!(
        "restored `{}` into `{}` (schema version {}); rows per table:",
        file.display(),
        database.display(),
        inspection.schema_version
    );
    print_tables(&inspection);
    println!("audit log intact: {audited} records chain correctly");
    Ok(())
}

/// That `master` opens the backup and its audit chain is whole; answers the chain's length.
async fn check_source(
    source: &SqlStore,
    master: &warden_core::crypto::MasterKey,
    file: &Path,
) -> anyhow::Result<i64> {
    use warden_core::store::{AuditFilter, Store};
    if !warden_core::bootstrap::opens(source, master)
        .await
        .map_err(crate::admin::explain)?
    {
        bail!(
            "`{}` holds an uninitialized store: nothing to restore",
            file.display()
        );
    }
    let mut records = Vec::new();
    loop {
        let after = records
            .last()
            .map_or(0, |r: &warden_core::audit::AuditRecord| r.seq);
        let page = source
            .audit(&AuditFilter::default(), after, 1000)
            .await
            .map_err(|err| crate::admin::explain(err.into()))?;
        if page.is_empty() {
            break;
        }
        records.extend(page);
    }
    match warden_core::audit::verify(records) {
        warden_core::audit::Verdict::Intact { records } => Ok(records),
        warden_core::audit::Verdict::Broken { seq, reason } => bail!(
            "`{}`: its audit log is broken at record {seq}: {reason}; nothing was restored",
            file.display()
        ),
    }
}
