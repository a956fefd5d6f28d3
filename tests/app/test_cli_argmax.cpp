// argmax against a plain scan: the first index of the largest value, NaN skipped, on lengths
// around its vector width (16) and block (1024), with the winner in every position class.
#include <QtTest>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "argmax.hpp"

namespace {
std::int32_t plain_argmax(const std::vector<float>& v) {
    std::int32_t best = -1;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (std::isnan(v[i])) continue;
        if (best < 0 || v[i] > v[static_cast<std::size_t>(best)])
            best = static_cast<std::int32_t>(i);
    }
    return best < 0 ? 0 : best;
}
}  // namespace

class CliArgmaxTest : public QObject {
    Q_OBJECT
  private slots:
    void matches_a_plain_scan() {
        std::mt19937 rng(3);
        std::normal_distribution<float> dist(0.0f, 4.0f);
        for (std::size_t n : {1u, 3u, 15u, 16u, 17u, 1023u, 1024u, 1025u, 3000u, 65536u}) {
            for (int trial = 0; trial < 20; ++trial) {
                std::vector<float> v(n);
                for (float& x : v) x = dist(rng);
                // The maximum at the start, at the end, in the tail past whole vectors, and tied.
                const std::size_t spots[] = {0, n - 1, n / 16 * 16 < n ? n / 16 * 16 : n - 1,
                                             n / 2};
                const std::size_t at = spots[trial % 4];
                v[at] = 100.0f;
                if (trial % 5 == 0 && at + 1 < n) v[at + 1] = 100.0f;  // tie: first wins
                if (trial % 3 == 0) v[(at + n / 3) % n] = std::numeric_limits<float>::quiet_NaN();
                QCOMPARE(ravel::cli::argmax(v), plain_argmax(v));
            }
        }
    }

    void edge_values() {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        const float inf = std::numeric_limits<float>::infinity();
        QCOMPARE(ravel::cli::argmax({}), 0);
        QCOMPARE(ravel::cli::argmax(std::vector<float>(40, nan)), 0);
        std::vector<float> v(2000, -inf);
        QCOMPARE(ravel::cli::argmax(v), 0);
        v[1500] = -1e30f;
        QCOMPARE(ravel::cli::argmax(v), 1500);
        v[1999] = inf;
        QCOMPARE(ravel::cli::argmax(v), 1999);
        v[3] = nan;
        QCOMPARE(ravel::cli::argmax(v), 1999);
        std::vector<float> tie(3000, 0.0f);  // equal maxima in different blocks: the first
        tie[2500] = tie[100] = 5.0f;
        QCOMPARE(ravel::cli::argmax(tie), 100);
    }
};

QTEST_APPLESS_MAIN(CliArgmaxTest)
#include "test_cli_argmax.moc"
