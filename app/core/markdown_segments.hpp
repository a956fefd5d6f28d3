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
// Prose as Qt's Markdown renderer should get it. Qt's GitHub dialect passes raw HTML through, so
// "#include <vector>" would hide everything after "<", and it joins single line breaks into
// one line, which flattens the lines a model writes (verse, addresses, short steps). So '<' is
// written as an entity outside inline code spans (inside them it is literal already), and each
// line break inside a paragraph becomes a hard break.
QString prose_for_markdown_view(const QString& text);
// The segments as a list of {code, language, text, markdown} maps for QML (`markdown` is
// prose_for_markdown_view of `text`; `text` is what Copy copies).
QVariantList markdown_segments_for_qml(const QString& text);

}  // namespace ravel::app
