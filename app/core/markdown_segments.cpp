#include "markdown_segments.hpp"

#include <QVariantMap>

namespace ravel::app {

namespace {

bool is_fence(const QString& line, QString* info) {
    const QString trimmed = line.trimmed();
    if (!trimmed.startsWith(QLatin1String("```"))) return false;
    if (info) *info = trimmed.mid(3).trimmed();
    return true;
}

void flush(QList<MarkdownSegment>& out, MarkdownSegment& current) {
    if (current.code || !current.text.trimmed().isEmpty()) {
        if (current.text.endsWith(QLatin1Char('\n'))) current.text.chop(1);
        out.append(current);
    }
    current = MarkdownSegment{};
}

}  // namespace

QList<MarkdownSegment> split_markdown(const QString& text) {
    QList<MarkdownSegment> out;
    MarkdownSegment current;
    const QStringList lines = text.split(QLatin1Char('\n'));
    for (qsizetype i = 0; i < lines.size(); ++i) {
        const QString& line = lines[i];
        QString info;
        if (is_fence(line, &info)) {
            if (current.code) {
                flush(out, current);
            } else {
                flush(out, current);
                current.code = true;
                current.language = info;
            }
            continue;
        }
        current.text += line;
        if (i + 1 < lines.size()) current.text += QLatin1Char('\n');
    }
    flush(out, current);
    return out;
}

QVariantList markdown_segments_for_qml(const QString& text) {
    QVariantList out;
    for (const MarkdownSegment& s : split_markdown(text)) {
        out.append(QVariantMap{{QStringLiteral("code"), s.code},
                               {QStringLiteral("language"), s.language},
                               {QStringLiteral("text"), s.text}});
    }
    return out;
}

}  // namespace ravel::app
