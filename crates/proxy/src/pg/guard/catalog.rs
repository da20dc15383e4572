//! Reading the database catalog the guard checks statements against (unknown tables, `*`
//! against honeypot columns), over an admin connection.

use shakedown_sql::policy::Catalog;

/// Reads every table and column visible to the role of `admin_url`.
pub async fn read_catalog(admin_url: &str) -> Result<Catalog, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(conn);
    let rows = client.query(Catalog::QUERY, &[]).await;
    driver.abort();
    Ok(Catalog::from_rows(rows?.iter().map(|r| {
        (
            r.get::<_, String>(0),
            r.get::<_, String>(1),
            r.get::<_, Option<String>>(2),
        )
    })))
}
