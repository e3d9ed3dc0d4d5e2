package dev.caravan.cluster.security;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Checks on files that hold secrets (keys, the join secret, API keys): a warning when others may read them. */
public final class SecretFiles {
  private static final Logger LOG = LoggerFactory.getLogger(SecretFiles.class);

  private SecretFiles() {}

  /** Whether users other than the owner may read {@code file} (false where POSIX permissions are unknown). */
  public static boolean readableByOthers(Path file) {
    try {
      Set<PosixFilePermission> p = Files.getPosixFilePermissions(file);
      return p.contains(PosixFilePermission.GROUP_READ) || p.contains(PosixFilePermission.OTHERS_READ);
    } catch (IOException | UnsupportedOperationException e) {
      return false;
    }
  }

  /** Logs a warning naming the option and the file when others may read it. */
  public static void warnIfReadableByOthers(Path file, String option) {
    if (readableByOthers(file)) {
      LOG.warn("{}: {} holds a secret but its group or others may read it; chmod 600 it", option, file);
    }
  }

  /** Makes a file readable and writable by its owner only, where the file system has POSIX permissions. */
  public static void ownerOnly(Path file) throws IOException {
    try {
      Files.setPosixFilePermissions(file, Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE));
    } catch (UnsupportedOperationException e) {
      // not a POSIX file system: nothing to narrow
    }
  }
}
