// `sqlx::migrate!` embeds hub/migrations and hub/migrations-pg at compile time: rebuild when a migration is added.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=migrations-pg");
}
