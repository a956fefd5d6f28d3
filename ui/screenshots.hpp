// `ravel --screenshot DIR [--model FILE]`: renders the main screens, light and dark, as PNG files
// (used for docs/screenshots through tools/screenshots.sh).
#pragma once

#include <QString>

namespace ravel::ui {

// `modelPath` empty: the bundled demo model. Returns a process exit code; explains failures on
// stderr.
int render_screenshots(const QString& directory, const QString& modelPath);

}  // namespace ravel::ui
