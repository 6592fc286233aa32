// "Did you mean …?": the nearest known name to a misspelt one.
import Foundation

/// The candidate closest to `given`, if it is close enough to be a likely typo: the same name
/// apart from case, `-` for `_` or a plural `s`, or within a small edit distance.
package func closestName(to given: String, among candidates: [String]) -> String? {
    func normalized(_ name: String) -> String {
        name.lowercased().replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: " ", with: "_")
    }
    let target = normalized(given)
    if let exact = candidates.first(where: { normalized($0) == target || normalized($0) + "s" == target }) {
        return exact
    }
    // Allow one edit in short names, two in middling ones, three in long ones.
    let distanceMax = target.count <= 4 ? 1 : (target.count <= 9 ? 2 : 3)
    var best: (name: String, distance: Int)?
    for candidate in candidates {
        let distance = editDistance(target, normalized(candidate))
        if distance <= distanceMax, distance < (best?.distance ?? Int.max) {
            best = (candidate, distance)
        }
    }
    return best?.name
}

/// Edit distance over characters where inserting, deleting, substituting or swapping two
/// neighbours costs 1 (optimal string alignment), since "bleu" for "blue" is one slip of the
/// fingers. Names are short (compared up to 64 characters), so the quadratic table is small.
package func editDistance(_ a: String, _ b: String) -> Int {
    let left = Array(a.prefix(64))
    let right = Array(b.prefix(64))
    if left.isEmpty { return right.count }
    if right.isEmpty { return left.count }
    var table = [[Int]](repeating: [Int](repeating: 0, count: right.count + 1), count: left.count + 1)
    for i in 0...left.count { table[i][0] = i }
    for j in 0...right.count { table[0][j] = j }
    for i in 1...left.count {
        for j in 1...right.count {
            let cost = left[i - 1] == right[j - 1] ? 0 : 1
            table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
            if i > 1, j > 1, left[i - 1] == right[j - 2], left[i - 2] == right[j - 1] {
                table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
            }
        }
    }
    return table[left.count][right.count]
}

/// `"a", "b" or "c"`, for lists of allowed values.
package func quotedList(_ names: [String], conjunction: String = "or") -> String {
    let quoted = names.map { "\"\($0)\"" }
    guard quoted.count > 1 else { return quoted.first ?? "" }
    return quoted.dropLast().joined(separator: ", ") + " \(conjunction) " + (quoted.last ?? "")
}
