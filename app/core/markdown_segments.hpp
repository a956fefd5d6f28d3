// Splits message text into prose and fenced code blocks so the view can render prose as
// Markdown and give each code block its own monospace box with a Copy button. An unclosed fence
// (common while a reply is still streaming) runs to the end of the text.
#pragma once

#include <QList>
#include <QString>
#include <QVariantList>

namespace ravel::app {

struct MarkdownSegment {
    bool code = false;
    QString language;  // from the opening fence, e.g. "cpp"
    QString text;
};

QList<MarkdownSegment> split_markdown(const QString& text);
// The same as a list of {code, language, text} maps for QML.
QVariantList markdown_segments_for_qml(const QString& text);

}  // namespace ravel::app
