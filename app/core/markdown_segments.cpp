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

QString prose_for_markdown_view(const QString& text) {
    QString prose = text;
    prose.replace(QLatin1String("\r\n"), QLatin1String("\n"));
    QString out;
    out.reserve(prose.size() + prose.size() / 8);
    const qsizetype n = prose.size();
    const auto run_at = [&](qsizetype i) {
        qsizetype j = i;
        while (j < n && prose[j] == QLatin1Char('`')) ++j;
        return j - i;
    };
    for (qsizetype i = 0; i < n;) {
        const QChar c = prose[i];
        if (c == QLatin1Char('\\') && i + 1 < n && prose[i + 1] == QLatin1Char('`')) {
            out += QLatin1String("\\`");  // an escaped backtick opens no code span
            i += 2;
            continue;
        }
        if (c == QLatin1Char('`')) {
            // An inline code span: the same number of backticks closes it, within the paragraph.
            // Copied as it is.
            const qsizetype open = run_at(i);
            qsizetype close = -1;
            for (qsizetype j = i + open; j < n;) {
                if (prose[j] == QLatin1Char('\n') && j + 1 < n &&
                    prose[j + 1] == QLatin1Char('\n')) {
                    break;  // a blank line ends the paragraph
                }
                if (prose[j] != QLatin1Char('`')) {
                    ++j;
                    continue;
                }
                const qsizetype run = run_at(j);
                if (run == open) {
                    close = j + run;
                    break;
                }
                j += run;
            }
            const qsizetype end = close < 0 ? i + open : close;
            out += QStringView(prose).mid(i, end - i);
            i = end;
            continue;
        }
        if (c == QLatin1Char('<')) {
            out += QLatin1String("&lt;");
        } else if (c == QLatin1Char('\n') && i > 0 && prose[i - 1] != QLatin1Char('\n') &&
                   i + 1 < n && prose[i + 1] != QLatin1Char('\n')) {
            out += QLatin1String("  \n");  // a line break inside a paragraph
        } else {
            out += c;
        }
        ++i;
    }
    return out;
}

QVariantList markdown_segments_for_qml(const QString& text) {
    QVariantList out;
    for (const MarkdownSegment& s : split_markdown(text)) {
        out.append(QVariantMap{
            {QStringLiteral("code"), s.code},
            {QStringLiteral("language"), s.language},
            {QStringLiteral("text"), s.text},
            {QStringLiteral("markdown"), s.code ? QString() : prose_for_markdown_view(s.text)}});
    }
    return out;
}

}  // namespace ravel::app
