//! The floor of the desktop memory benchmark: a Tauri window and nothing else, built with the
//! same Tauri version, features and configuration as Berth's app, showing an empty page.
//! `cargo build --release -p berth-desktop --example bare` (scripts/bench does).

use tauri::{WebviewUrl, WebviewWindowBuilder};

fn main() {
    let mut context = tauri::generate_context!();
    // Not Berth's UI: the floor is a window with an empty page.
    context.config_mut().app.windows.clear();
    tauri::Builder::default()
        .setup(|app| {
            WebviewWindowBuilder::new(app, "main", WebviewUrl::External("about:blank".parse()?))
                .title("bare")
                .inner_size(1120.0, 760.0)
                .build()?;
            Ok(())
        })
        .run(context)
        .expect("the bare Tauri window");
}
